import { MAX_TIMER_MS, fireAt } from '../../dev/local-host/fire-at';

describe("the local host's timer (fireAt)", () => {
  beforeEach(() => jest.useFakeTimers({ now: Date.UTC(2026, 0, 1) }));
  afterEach(() => jest.useRealTimers());

  it('waits a whole year for a yearly schedule, not the 24.8 days a timer holds', () => {
    const fired: number[] = [];
    const at = Date.UTC(2027, 0, 1);
    fireAt(at, () => fired.push(Date.now()));
    jest.advanceTimersByTime(MAX_TIMER_MS + 1);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(at - Date.now() - 1);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(fired).toEqual([at]);
  });

  it('fires at once for a time already past, and not at all once cancelled', () => {
    const fired: string[] = [];
    fireAt(Date.now() - 5_000, () => fired.push('past'));
    const cancel = fireAt(Date.now() + 3 * MAX_TIMER_MS, () => fired.push('cancelled'));
    jest.advanceTimersByTime(0);
    expect(fired).toEqual(['past']);
    jest.advanceTimersByTime(MAX_TIMER_MS + 10);
    cancel();
    jest.advanceTimersByTime(3 * MAX_TIMER_MS);
    expect(fired).toEqual(['past']);
  });
});
