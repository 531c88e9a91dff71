import { UnheadedWindows } from '../../src/graph/unheaded-windows';

const LATENCY = 200;

/** Two spells 15 s apart, the window between them giving `units` before its 429: the windows learned. */
function learned(units: number): UnheadedWindows {
  const windows = new UnheadedWindows();
  windows.throttled();
  windows.spellEnded(15_000, true);
  windows.granted(units + 40, 15_100);
  windows.answered(units, 20_000, LATENCY);
  windows.throttled();
  windows.spellEnded(30_000, true);
  return windows;
}

describe('UnheadedWindows: a budget shown by 429s alone, spent window by window', () => {
  it('learns a window from two spells: its length, and what it gave until its 429', () => {
    const windows = learned(3_000);
    expect(windows.lengthMs).toBe(15_000);
    expect(windows.units).toBe(3_000);
    // Not armed (the spells did not look like a budget's): it never stops anything.
    windows.granted(10_000, 30_100);
    expect(windows.check(2, 30_200, LATENCY, false)).toBeUndefined();
  });

  it('stops at 95% of what a window gave, then lets one probe go when the next window is due', () => {
    const windows = learned(3_000);
    windows.granted(2_848, 31_000);
    expect(windows.check(2, 32_000, LATENCY, true)).toBeUndefined();
    windows.granted(2, 32_000);
    // 2,850 granted: the next 2 units would pass 95% of 3,000. Wait for the next window, taken to be 1% late.
    expect(windows.check(2, 32_010, LATENCY, true)).toEqual({ until: 45_150 });
    expect(windows.check(2, 45_150, LATENCY, true)).toBeUndefined();
    windows.granted(2, 45_150);
    expect(windows.probing).toBe(true);
    expect(windows.probeAfterStop).toBe(true);
    // Others wait for the probe's answer, or at most 4 latencies and 50 ms.
    expect(windows.check(2, 45_151, LATENCY, true)).toEqual({ until: 46_000 });
    // An answer to a request sent before the probe (within half a latency of it) is not the probe's.
    windows.answered(2, 45_200, LATENCY);
    expect(windows.probing).toBe(true);
    windows.answered(2, 45_400, LATENCY);
    expect(windows.probing).toBe(false);
    // A new window since the probe, a little larger: the budget may have grown.
    expect(windows.units).toBeCloseTo(3_030, 6);
    windows.granted(2_876, 45_500);
    expect(windows.check(2, 45_600, LATENCY, true)).toEqual({ until: 60_300 });
  });

  it('spends a window not learned yet at half pace from 70% to 150% of what the last one gave', () => {
    const windows = new UnheadedWindows();
    // Slow start: 2,000 units answered before the run's first 429. Nothing known yet: full pace.
    windows.granted(2_040, 0);
    windows.answered(2_000, 5_000, LATENCY);
    expect(windows.pace()).toBe(1);
    windows.throttled();
    windows.spellEnded(9_000, true);
    // The next window, its length not known: full pace up to 70% of 2,000, half pace after.
    windows.granted(1_399, 9_100);
    expect(windows.pace()).toBe(1);
    windows.granted(1, 10_000);
    expect(windows.pace()).toBe(0.5);
    windows.granted(1_599, 10_500);
    expect(windows.pace()).toBe(0.5);
    // Half as much again as the last window gave, and no 429: this window is larger, full pace again.
    windows.granted(1, 10_600);
    expect(windows.pace()).toBe(1);
    windows.answered(3_100, 11_000, LATENCY);
    windows.throttled();
    expect(windows.pace()).toBe(1);
    windows.spellEnded(24_000, true);
    // Learned: the share stops each window now, at full pace up to it.
    expect(windows.units).toBe(3_100);
    windows.granted(1_990, 24_100);
    expect(windows.pace()).toBe(1);
  });

  it('goes on without the probe answer after 4 latencies and 50 ms, the window taken to have begun', () => {
    const windows = learned(1_000);
    windows.granted(950, 31_000);
    expect(windows.check(2, 31_000, LATENCY, true)).toEqual({ until: 45_150 });
    windows.granted(2, 45_150);
    expect(windows.check(2, 45_999, LATENCY, true)).toEqual({ until: 46_000 });
    expect(windows.check(2, 46_000, LATENCY, true)).toBeUndefined();
    expect(windows.probing).toBe(false);
  });

  it('takes a 429 before the share was spent as a smaller budget, and one to the probe as a later boundary', () => {
    const windows = learned(3_000);
    // The budget came down: 1,500 got through, then a 429; the spell ends at the next window.
    windows.granted(1_600, 31_000);
    windows.answered(1_500, 32_000, LATENCY);
    windows.throttled();
    windows.spellEnded(45_000, true);
    expect(windows.units).toBe(1_500);
    expect(windows.lengthMs).toBe(15_000);
    // Spent to its share and probed at 60.15 s: the probe meets a 429, and the spell ends at 61.65 s.
    windows.granted(1_425, 45_100);
    expect(windows.check(2, 45_200, LATENCY, true)).toEqual({ until: 60_150 });
    windows.granted(2, 60_150);
    windows.throttled();
    expect(windows.check(2, 60_500, LATENCY, true)).toBeUndefined();
    windows.spellEnded(61_650, true);
    // The length from the first spell's end over the three windows since: (61.65 - 15) / 3.
    expect(windows.lengthMs).toBe(15_550);
    // What the window gave is not learned from a window that ended at the stop.
    expect(windows.units).toBe(1_500);
  });

  it('moves on by the clock when a window passes without its share spent', () => {
    const windows = learned(3_000);
    windows.granted(2_100, 31_000);
    // 76 s: two windows later (30 + 3 x 15 = 75 s is the current one's start), with a fresh count.
    expect(windows.check(2, 76_000, LATENCY, true)).toBeUndefined();
    windows.granted(2_849, 76_100);
    expect(windows.check(2, 76_200, LATENCY, true)).toEqual({ until: 90_150 });
    // A spell from a guessed start teaches no units; its end, 0.5 s late 5 windows after the first, the length.
    windows.throttled();
    windows.spellEnded(90_500, true);
    expect(windows.lengthMs).toBe(15_100);
    expect(windows.units).toBe(3_000);
  });

  it('learns the length again after a spell far from a window boundary, and forgets all after 429s unlike a budget', () => {
    const windows = learned(3_000);
    windows.answered(500, 31_000, LATENCY);
    windows.throttled();
    windows.spellEnded(36_000, true);
    // 6 s into a window: no units learned from it, and the length is learned again from the next spell.
    expect(windows.units).toBe(3_000);
    expect(windows.lengthMs).toBeUndefined();
    windows.throttled();
    windows.spellEnded(51_000, true);
    expect(windows.lengthMs).toBe(15_000);
    windows.throttled();
    windows.spellEnded(52_000, false);
    expect(windows.lengthMs).toBeUndefined();
    expect(windows.units).toBeUndefined();
    windows.granted(100_000, 53_000);
    expect(windows.check(2, 53_000, LATENCY, true)).toBeUndefined();
  });
});
