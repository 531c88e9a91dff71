import { UnheadedHolds } from '../../src/graph/unheaded-holds';

describe('UnheadedHolds: holds after budget 429s without RateLimit headers', () => {
  it('learns how much longer than a Retry-After that is half the time to the reset the reset really is', () => {
    const holds = new UnheadedHolds();
    // 8 s to the reset: 4 s asked; the probe then meets 4 s left and is asked for 2: it waits 4 again.
    expect(holds.hold(4_000)).toBe(4_000);
    expect(holds.hold(2_000)).toBe(4_000);
    holds.through();
    expect(holds.stretch).toBe(2);
    // The next spell, 6 s to its reset: 3 s asked, 6 s waited, and its first probe gets through.
    expect(holds.hold(3_000)).toBe(6_000);
    holds.through();
    expect(holds.stretch).toBe(2);
  });

  it("learns nothing from the service's own 429s, whose Retry-After does not shrink", () => {
    const holds = new UnheadedHolds();
    expect(holds.hold(1_000)).toBe(1_000);
    expect(holds.hold(1_000)).toBe(1_000);
    expect(holds.hold(1_000)).toBe(1_000);
    holds.through();
    expect(holds.stretch).toBe(1);
    expect(holds.hold(1_000)).toBe(1_000);
  });

  it('goes back to plain Retry-After after a spell of service 429s, and never stretches past 4 times', () => {
    const holds = new UnheadedHolds();
    // A quarter of the time to the reset, four times over: 16 s waited for a first Retry-After of 1 s.
    expect(holds.hold(1_000)).toBe(1_000);
    for (let i = 0; i < 15; i += 1) holds.hold(500);
    holds.through();
    expect(holds.stretch).toBe(4);
    expect(holds.hold(2_000)).toBe(8_000);
    expect(holds.hold(8_000)).toBe(8_000);
    holds.through();
    expect(holds.stretch).toBe(1);
  });

  it('keeps what it learned through a spell that got through at once', () => {
    const holds = new UnheadedHolds();
    holds.hold(4_000);
    holds.hold(2_000);
    holds.through();
    holds.hold(4_000);
    holds.through();
    holds.through();
    expect(holds.stretch).toBe(2);
  });

  it('holds a Retry-After as given when told the reset is near, and keeps the stretch', () => {
    const holds = new UnheadedHolds();
    holds.hold(4_000);
    holds.hold(2_000);
    holds.through();
    expect(holds.inSpell).toBe(false);
    // The probe for a window that is due met a 429: 1 s asked, 1 s waited (not 2).
    expect(holds.hold(1_000, false)).toBe(1_000);
    expect(holds.inSpell).toBe(true);
    holds.through();
    expect(holds.stretch).toBe(2);
  });
});
