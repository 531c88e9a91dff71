/** The benchmark's figures, their targets and the table printed on stdout. */
import type { CpuFigure } from './proc-stat';

export interface MachineInfo {
  /** 1, 5 and 15 minute load averages when the benchmark started and ended (other work on the machine shows here). */
  loadAverage: { atStart: number[]; atEnd: number[] };
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  kernel: string;
  /**
   * CPU milliseconds of a fixed single-threaded workload (calibration.ts) at the start and the end of the run:
   * the machine's speed at the time, to compare the CPU figures of two runs.
   */
  calibrationCpuMs: { atStart: number; atEnd: number };
  /** Share of all CPU time the hypervisor took from this machine during the run (Linux `steal`), if known. */
  stealShare: number | undefined;
}

export interface BenchFigures {
  budgetUtilisation: Record<string, number>;
  /**
   * The same, timed from the start of the wall-clock window the first request fell in: it does not depend on
   * where in a window the crawl happened to start, so it moves less from run to run (no target; for comparing runs).
   */
  budgetUtilisationWholeWindows: Record<string, number>;
  throttledShare: number;
  retryAfterViolations: number;
  itemsExact: boolean;
  speedupVsNaive: number;
  rssRatio: number;
  cpuMicrosPerItem: number;
  /**
   * Scenario C's memory, MiB: peak RSS of each run, peak heap in use, and the large run's heap right after its
   * full GCs (its live set; the rest of its peak is garbage V8 lets accumulate between full collections).
   */
  memoryMiB: {
    smallPeakRss: number;
    largePeakRss: number;
    smallPeakHeapUsed: number;
    largePeakHeapUsed: number;
    largeLiveHeapAfterFullGc: number;
  };
  requestsPerRoundTrip: number;
  entitiesPerTransaction: number;
  /** The steady scenario's second crawl: Graph units per drive, per `CRAWL_SCOPE` (docs/delta.md). */
  steadyStateUnitsPerDrive?: Record<string, number>;
  /** CPU of each part during the budget scenario (A), in cores. */
  cpu: { crawler: CpuFigure; simulator: CpuFigure; azurite: CpuFigure };
  machine: MachineInfo;
  timeScale: number;
  durationSeconds: number;
  /** Whether each target is met. */
  targetsMet: Record<string, boolean>;
  /** Everything measured, per scenario. */
  scenarios: Record<string, unknown>;
}

/** The targets; `speedupVsNaive` and `requestsPerRoundTrip` are reported without one. */
export function targetsMet(figures: Omit<BenchFigures, 'targetsMet'>): Record<string, boolean> {
  const tiers = Object.values(figures.budgetUtilisation);
  return {
    budgetUtilisation: tiers.length > 0 && tiers.every((value) => value >= 0.9),
    throttledShare: figures.throttledShare <= 0.01,
    retryAfterViolations: figures.retryAfterViolations === 0,
    itemsExact: figures.itemsExact,
    // 0 means scenario C did not run (`--only`): not measured is not met.
    rssRatio: figures.rssRatio > 0 && figures.rssRatio <= 1.5,
    cpuMicrosPerItem: figures.cpuMicrosPerItem > 0 && figures.cpuMicrosPerItem <= 100,
    entitiesPerTransaction: figures.entitiesPerTransaction >= 50,
    ...(figures.steadyStateUnitsPerDrive
      ? {
          steadyStateUnitsPerDrive: Object.values(figures.steadyStateUnitsPerDrive).every(
            (value) => value > 0 && value <= 1.1,
          ),
        }
      : {}),
  };
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function cpuText(figure: CpuFigure): string {
  return `${fixed(figure.mean, 2)} cores mean, ${fixed(figure.peak, 2)} peak`;
}

/** The table for stdout: figure, value, target, met. */
export function formatTable(figures: BenchFigures): string {
  const met = figures.targetsMet;
  const mark = (key: string): string => (met[key] === undefined ? '' : met[key] ? 'yes' : 'NO');
  const rows: Array<[string, string, string, string]> = [['figure', 'value', 'target', 'met']];
  for (const [tier, value] of Object.entries(figures.budgetUtilisation)) {
    rows.push([
      `budgetUtilisation (${tier}/min tier)`,
      fixed(value, 3),
      '>= 0.90',
      value >= 0.9 ? 'yes' : 'NO',
    ]);
  }
  for (const [tier, value] of Object.entries(figures.budgetUtilisationWholeWindows)) {
    rows.push([`  from its window's start (${tier})`, fixed(value, 3), '', '']);
  }
  rows.push(['throttledShare', fixed(figures.throttledShare, 4), '<= 0.01', mark('throttledShare')]);
  rows.push([
    'retryAfterViolations',
    String(figures.retryAfterViolations),
    '= 0',
    mark('retryAfterViolations'),
  ]);
  rows.push(['itemsExact', String(figures.itemsExact), 'true', mark('itemsExact')]);
  rows.push(['speedupVsNaive', fixed(figures.speedupVsNaive, 1), '', '']);
  const ranC = figures.rssRatio > 0;
  rows.push(['rssRatio', fixed(figures.rssRatio, 2), '<= 1.5', ranC ? mark('rssRatio') : 'not run']);
  rows.push([
    'cpuMicrosPerItem',
    fixed(figures.cpuMicrosPerItem, 1),
    '<= 100',
    ranC ? mark('cpuMicrosPerItem') : 'not run',
  ]);
  rows.push(['requestsPerRoundTrip', fixed(figures.requestsPerRoundTrip, 1), '', '']);
  rows.push([
    'entitiesPerTransaction',
    fixed(figures.entitiesPerTransaction, 1),
    '>= 50',
    mark('entitiesPerTransaction'),
  ]);
  for (const [scope, value] of Object.entries(figures.steadyStateUnitsPerDrive ?? {})) {
    rows.push([
      `steadyStateUnitsPerDrive (${scope})`,
      fixed(value, 3),
      '<= 1.1',
      value > 0 && value <= 1.1 ? 'yes' : 'NO',
    ]);
  }
  const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  const line = (row: string[]): string =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0] ?? []), line(widths.map((width) => '-'.repeat(width)))];
  for (const row of rows.slice(1)) out.push(line(row));
  const memory = figures.memoryMiB;
  out.push('');
  out.push(
    `Crawler memory (scenario C): peak RSS ${fixed(memory.smallPeakRss, 0)} / ${fixed(memory.largePeakRss, 0)} MiB, ` +
      `peak heap in use ${fixed(memory.smallPeakHeapUsed, 0)} / ${fixed(memory.largePeakHeapUsed, 0)} MiB ` +
      `(small / large tenant); large tenant's heap after full GCs at most ${fixed(memory.largeLiveHeapAfterFullGc, 0)} MiB.`,
  );
  out.push(`CPU during the budget run (scenario A), time scale ${figures.timeScale}:`);
  out.push(`  crawler    ${cpuText(figures.cpu.crawler)}`);
  out.push(`  simulator  ${cpuText(figures.cpu.simulator)}`);
  out.push(`  Azurite    ${cpuText(figures.cpu.azurite)}`);
  const machine = figures.machine;
  out.push(
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${fixed(machine.memoryGiB, 1)} GiB, Node ${machine.node}, ` +
      `${machine.platform} ${machine.kernel}, load average ${machine.loadAverage.atStart.map((v) => fixed(v, 1)).join('/')} ` +
      `at start. Benchmark took ${fixed(figures.durationSeconds, 0)} s.`,
  );
  out.push(
    `Machine speed: a fixed CPU workload took ${fixed(machine.calibrationCpuMs.atStart, 0)} ms at the start and ` +
      `${fixed(machine.calibrationCpuMs.atEnd, 0)} ms at the end` +
      (machine.stealShare === undefined ? '' : `; steal ${fixed(machine.stealShare * 100, 1)}% of CPU time`) +
      ' (a slower machine shows here first when two runs differ in CPU).',
  );
  return `${out.join('\n')}\n`;
}
