import { unitsChartSvg } from '../../dev/bench/chart';
import { bestPeer, contenderFigures } from '../../dev/bench/contenders';
import type { ThrottleStats } from '../../dev/sim/types';

function stats(more: Partial<ThrottleStats>): ThrottleStats {
  return {
    unitsSpent: 0,
    unitsOnThrottled: 0,
    otherWorkloadUnits: 0,
    unitsBySecond: [],
    throttledUnitsBySecond: [],
    requests: 0,
    throttled: 0,
    violations: 0,
    budgetPerWindow: 600,
    windowSeconds: 60,
    timeScale: 1,
    unitsPerRealSecond: 10,
    ...more,
  };
}

describe('benchmark contender figures', () => {
  it('leaves the units of throttled requests out of the ideal, and counts them in utilisation', () => {
    const figures = contenderFigures({
      stats: stats({
        unitsSpent: 1_000,
        unitsOnThrottled: 200,
        requests: 500,
        throttled: 100,
        violations: 0,
      }),
      startedAt: 0,
      finishedAt: 100_000,
    });

    // 100 s at 10 units a second offered 1,000 units; the work cost 800 of them.
    expect(figures.budgetUtilisation).toBeCloseTo(1.0);
    expect(figures.timeOverIdeal).toBeCloseTo(1.25);
    expect(figures.throttledShare).toBeCloseTo(0.2);
    expect(figures.unitsOnThrottled).toBe(200);
    expect(figures.violations).toBe(0);
  });

  it('reports no violations where nothing was throttled, and scales a crawl stopped at its deadline', () => {
    const figures = contenderFigures({
      stats: stats({ unitsSpent: 100, requests: 50 }),
      startedAt: 0,
      finishedAt: 20_000,
      partial: { usersDone: 25, usersTotal: 100 },
    });

    expect(figures.violations).toBeNull();
    expect(figures.wallSeconds).toBe(80);
    expect(figures.unitsSpent).toBe(400);
    expect(figures.timeOverIdeal).toBeCloseTo(2);
    expect(figures.extrapolatedFrom).toEqual({ usersDone: 25, usersTotal: 100, wallSeconds: 20 });
  });

  it('takes the budget a scenario offered when it is given (adversity)', () => {
    const figures = contenderFigures({
      stats: stats({ unitsSpent: 450 }),
      startedAt: 0,
      finishedAt: 100_000,
      budgetUnits: 500,
    });

    expect(figures.budgetUtilisation).toBeCloseTo(0.9);
  });

  it('names the peer with the lowest time over ideal, never the product', () => {
    const make = (timeOverIdeal: number) => ({
      ...contenderFigures({ stats: stats({}), startedAt: 0, finishedAt: 0 }),
      timeOverIdeal,
    });

    expect(bestPeer({ product: make(1), sdkPool: make(3), fixedRate: make(1.2) })?.name).toBe('fixedRate');
    expect(bestPeer({ product: make(1) })).toBeUndefined();
  });
});

describe('benchmark chart', () => {
  it('draws one line per contender, the budget, and escapes names', () => {
    const svg = unitsChartSvg(
      'Units <per> second',
      [
        { name: 'product', unitsBySecond: [10, 12, 11, 9], throttledUnitsBySecond: [0, 0, 0, 0] },
        { name: 'a & b', unitsBySecond: [20, 0, 20, 0], throttledUnitsBySecond: [5, 0, 5, 0] },
      ],
      10,
    );

    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Units &#60;per&#62; second');
    expect(svg).toContain('a &#38; b');
    // Two lines of units, one of throttled units (the second contender's), one budget line in the legend and plot.
    expect(svg.match(/<path /g)).toHaveLength(3);
    expect(svg.match(/stroke-dasharray="6 4"/g)).toHaveLength(2);
  });
});
