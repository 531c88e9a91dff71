/** The benchmark's figures, their targets and the table printed on stdout. */
import type { ContenderFigures, ContenderName } from './contenders';
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

/**
 * The machine speed the README's CPU figures are scaled to: the calibration workload's CPU ms (calibration.ts) on
 * the machine and day the README's table was measured. `cpuMicrosPerItemAtReference` = CPU per item × this / the
 * run's own calibration ms, so runs on a faster or slower day compare.
 */
export const REFERENCE_CALIBRATION_MS = 160;

/** The product's figures in a scenario with peers, and the best peer's (lowest time over ideal) beside them. */
export interface PeerComparison {
  tier: number;
  product: ContenderFigures;
  bestPeer?: ContenderFigures & { name: ContenderName };
}

export interface BenchFigures {
  /** Scenario A, per tier: units charged over the budget offered from the run's start to its finish. */
  budgetUtilisation: Record<string, number>;
  /**
   * From the start of the wall-clock window the first request fell in to the last charged request: it does not
   * depend on where in a window the crawl happened to start, so it moves less from run to run (no target).
   */
  budgetUtilisationWholeWindows: Record<string, number>;
  /** Throttled answers over requests of the product in the plain weather (A, peers, realistic, queue). */
  throttledShare: number;
  /** Throttled answers the product got in every scenario (adversity included): violations mean something then. */
  throttledProductRuns: number;
  retryAfterViolations: number;
  itemsExact: boolean;
  /** The sequential loop's (extrapolated) duration over the product's, on identical tenants (peers). */
  speedupVsNaive: number;
  rssRatio: number;
  /** Scenario C: the large tenant's live heap (after full GCs) over the small one's. */
  liveHeapGrowth: number;
  /** The crawler's CPU per stored item, µs: the median of the `cpu` part's three runs, on this machine today. */
  cpuMicrosPerItem: number;
  /** The same at the README's calibration (`REFERENCE_CALIBRATION_MS`). */
  cpuMicrosPerItemAtReference: number;
  /** Scenario C's memory, MiB: peak RSS and heap in use of each run, and each run's live heap. */
  memoryMiB: {
    smallPeakRss: number;
    largePeakRss: number;
    smallPeakHeapUsed: number;
    largePeakHeapUsed: number;
    smallLiveHeap: number;
    largeLiveHeap: number;
  };
  requestsPerRoundTrip: number;
  entitiesPerTransaction: number;
  /** The steady scenario's second crawl: Graph units per drive, per `CRAWL_SCOPE` (docs/delta.md). */
  steadyStateUnitsPerDrive?: Record<string, number>;
  peers?: PeerComparison;
  adversity?: PeerComparison;
  realistic?: {
    budgetUtilisation: number;
    entitiesPerTransactionAll: number;
    entitiesPerSecondNeeded: number;
    entitiesPerSecondDelivered: number;
    cpuMicrosPerItem: number;
    /** The same at the README's calibration (`REFERENCE_CALIBRATION_MS`): the stricter reading of the CPU target. */
    cpuMicrosPerItemAtReference: number;
  };
  queue?: {
    budgetUtilisation: number;
    endToEndSeconds: number;
    peakRssMiB: number[];
    transactionsPerItem: number;
  };
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

/** The throttled share the product may have beside a peer: 1%, or a fifth of the peer's if that is more. */
export function throttledShareLimit(peer: ContenderFigures | undefined): number {
  return Math.max(0.01, (peer?.throttledShare ?? 0) / 5);
}

/** Whether the product's time over ideal is below every peer's that ran. */
function fasterThanPeers(comparison: PeerComparison | undefined): boolean | undefined {
  if (!comparison?.bestPeer) return undefined;
  return comparison.product.timeOverIdeal < comparison.bestPeer.timeOverIdeal;
}

/** The targets (a part that did not run has no entry); `speedupVsNaive` is reported without one. */
export function targetsMet(figures: Omit<BenchFigures, 'targetsMet'>): Record<string, boolean> {
  const tiers = Object.values(figures.budgetUtilisation);
  const entries: Array<[string, boolean | undefined]> = [
    ['budgetUtilisation', tiers.length > 0 ? tiers.every((value) => value >= 0.9) : undefined],
    ['throttledShare', figures.throttledShare <= throttledShareLimit(figures.peers?.bestPeer)],
    // Violations prove something only where the product was throttled.
    [
      'retryAfterViolations',
      figures.throttledProductRuns > 0 ? figures.retryAfterViolations === 0 : undefined,
    ],
    ['itemsExact', figures.itemsExact],
    ['rssRatio', figures.rssRatio > 0 ? figures.rssRatio <= 1.5 : undefined],
    ['liveHeapGrowth', figures.liveHeapGrowth > 0 ? figures.liveHeapGrowth <= 1.5 : undefined],
    [
      'cpuMicrosPerItem',
      figures.cpuMicrosPerItemAtReference > 0 ? figures.cpuMicrosPerItemAtReference <= 100 : undefined,
    ],
    [
      'entitiesPerTransaction',
      figures.entitiesPerTransaction > 0 ? figures.entitiesPerTransaction >= 50 : undefined,
    ],
    [
      'steadyStateUnitsPerDrive',
      figures.steadyStateUnitsPerDrive
        ? Object.values(figures.steadyStateUnitsPerDrive).every((value) => value > 0 && value <= 1.1)
        : undefined,
    ],
    ['peersTimeOverIdeal', fasterThanPeers(figures.peers)],
    ['peersBudgetUtilisation', figures.peers ? figures.peers.product.budgetUtilisation >= 0.9 : undefined],
    ['adversityTimeOverIdeal', fasterThanPeers(figures.adversity)],
    [
      'adversityBudgetUtilisation',
      figures.adversity ? figures.adversity.product.budgetUtilisation >= 0.85 : undefined,
    ],
    [
      'adversityThrottledShare',
      figures.adversity
        ? figures.adversity.product.throttledShare <= throttledShareLimit(figures.adversity.bestPeer)
        : undefined,
    ],
    [
      'realisticBudgetUtilisation',
      figures.realistic ? figures.realistic.budgetUtilisation >= 0.9 : undefined,
    ],
    [
      'realisticCpuMicrosPerItem',
      figures.realistic ? figures.realistic.cpuMicrosPerItemAtReference <= 100 : undefined,
    ],
    ['queueBudgetUtilisation', figures.queue ? figures.queue.budgetUtilisation >= 0.85 : undefined],
  ];
  return Object.fromEntries(entries.filter((entry): entry is [string, boolean] => entry[1] !== undefined));
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

function cpuText(figure: CpuFigure): string {
  return `${fixed(figure.mean, 2)} cores mean, ${fixed(figure.peak, 2)} peak`;
}

/** The table for stdout: figure, value, target, the best peer's figure where peers ran, met. */
export function formatTable(figures: BenchFigures): string {
  const met = figures.targetsMet;
  const mark = (key: string): string => (met[key] === undefined ? 'not run' : met[key] ? 'yes' : 'NO');
  type Row = [string, string, string, string, string];
  const rows: Row[] = [['figure', 'value', 'target', 'best peer', 'met']];
  for (const [tier, value] of Object.entries(figures.budgetUtilisation)) {
    rows.push([
      `A: budgetUtilisation (${tier} tier)`,
      fixed(value, 3),
      '>= 0.90',
      '',
      value >= 0.9 ? 'yes' : 'NO',
    ]);
  }
  for (const [tier, value] of Object.entries(figures.budgetUtilisationWholeWindows)) {
    rows.push([`  from its window's start (${tier})`, fixed(value, 3), '', '', '']);
  }
  for (const [part, comparison, floor] of [
    ['peers', figures.peers, 0.9],
    ['adversity', figures.adversity, 0.85],
  ] as const) {
    if (!comparison) continue;
    const { product, bestPeer } = comparison;
    const key = part === 'peers' ? 'peers' : 'adversity';
    const peerText = (value: number | undefined, digits: number): string =>
      bestPeer && value !== undefined ? `${fixed(value, digits)} (${bestPeer.name})` : '';
    rows.push([
      `${part}: timeOverIdeal (${comparison.tier} tier)`,
      fixed(product.timeOverIdeal, 3),
      '< every peer',
      peerText(bestPeer?.timeOverIdeal, 3),
      mark(`${key}TimeOverIdeal`),
    ]);
    rows.push([
      `${part}: budgetUtilisation`,
      fixed(product.budgetUtilisation, 3),
      `>= ${fixed(floor, 2)}`,
      peerText(bestPeer?.budgetUtilisation, 3),
      mark(`${key}BudgetUtilisation`),
    ]);
    rows.push([
      `${part}: throttledShare`,
      fixed(product.throttledShare, 4),
      `<= ${fixed(throttledShareLimit(bestPeer), 4)}`,
      peerText(bestPeer?.throttledShare, 4),
      part === 'adversity' ? mark('adversityThrottledShare') : '',
    ]);
    rows.push([
      `${part}: unitsOnThrottled / violations`,
      `${product.unitsOnThrottled} / ${product.violations ?? '-'}`,
      '- / 0',
      bestPeer ? `${bestPeer.unitsOnThrottled} / ${bestPeer.violations ?? '-'}` : '',
      '',
    ]);
  }
  if (figures.realistic) {
    const r = figures.realistic;
    rows.push([
      'realistic: budgetUtilisation',
      fixed(r.budgetUtilisation, 3),
      '>= 0.90',
      '',
      mark('realisticBudgetUtilisation'),
    ]);
    rows.push(['realistic: entities per transaction', fixed(r.entitiesPerTransactionAll, 1), '', '', '']);
    rows.push([
      'realistic: entities/s needed / delivered',
      `${fixed(r.entitiesPerSecondNeeded, 0)} / ${fixed(r.entitiesPerSecondDelivered, 0)}`,
      '',
      '',
      '',
    ]);
    rows.push([
      'realistic: CPU µs/item (at reference)',
      `${fixed(r.cpuMicrosPerItem, 1)} (${fixed(r.cpuMicrosPerItemAtReference, 1)})`,
      '<= 100',
      '',
      mark('realisticCpuMicrosPerItem'),
    ]);
  }
  if (figures.queue) {
    const q = figures.queue;
    rows.push([
      'queue: budgetUtilisation',
      fixed(q.budgetUtilisation, 3),
      '>= 0.85',
      '',
      mark('queueBudgetUtilisation'),
    ]);
    rows.push([
      'queue: end to end s / peak RSS MiB',
      `${fixed(q.endToEndSeconds, 1)} / ${q.peakRssMiB.map((v) => fixed(v, 0)).join(', ')}`,
      '',
      '',
      '',
    ]);
    rows.push(['queue: transactions per item', fixed(q.transactionsPerItem, 3), '', '', '']);
  }
  rows.push([
    'throttledShare (plain weather)',
    fixed(figures.throttledShare, 4),
    `<= ${fixed(throttledShareLimit(figures.peers?.bestPeer), 4)}`,
    figures.peers?.bestPeer ? fixed(figures.peers.bestPeer.throttledShare, 4) : '',
    mark('throttledShare'),
  ]);
  rows.push([
    'retryAfterViolations',
    `${figures.retryAfterViolations} (throttled ${figures.throttledProductRuns})`,
    '= 0, throttled > 0',
    '',
    mark('retryAfterViolations'),
  ]);
  rows.push(['itemsExact', String(figures.itemsExact), 'true', '', mark('itemsExact')]);
  rows.push(['speedupVsNaive', fixed(figures.speedupVsNaive, 1), '', '', '']);
  rows.push(['liveHeapGrowth', fixed(figures.liveHeapGrowth, 2), '<= 1.5', '', mark('liveHeapGrowth')]);
  rows.push(['rssRatio', fixed(figures.rssRatio, 2), '<= 1.5', '', mark('rssRatio')]);
  rows.push([
    'cpuMicrosPerItem (at reference)',
    `${fixed(figures.cpuMicrosPerItem, 1)} (${fixed(figures.cpuMicrosPerItemAtReference, 1)})`,
    '<= 100',
    '',
    mark('cpuMicrosPerItem'),
  ]);
  rows.push(['requestsPerRoundTrip', fixed(figures.requestsPerRoundTrip, 1), '', '', '']);
  rows.push([
    'entitiesPerTransaction',
    fixed(figures.entitiesPerTransaction, 1),
    '>= 50',
    '',
    mark('entitiesPerTransaction'),
  ]);
  for (const [scope, value] of Object.entries(figures.steadyStateUnitsPerDrive ?? {})) {
    rows.push([
      `steadyStateUnitsPerDrive (${scope})`,
      fixed(value, 3),
      '<= 1.1',
      '',
      value > 0 && value <= 1.1 ? 'yes' : 'NO',
    ]);
  }
  const widths = [0, 1, 2, 3, 4].map((column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
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
      `peak heap in use ${fixed(memory.smallPeakHeapUsed, 0)} / ${fixed(memory.largePeakHeapUsed, 0)} MiB, ` +
      `live heap ${fixed(memory.smallLiveHeap, 0)} / ${fixed(memory.largeLiveHeap, 0)} MiB (small / large tenant).`,
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
