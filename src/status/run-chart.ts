import type { CrawlRun } from '../crawl/crawl-runs';
import { formatCount, formatDuration } from './format';
import { RECENT_RUNS, runDurationMs } from './tenant-status';

const WIDTH = 320;
const HEIGHT = 90;
const PAD = 6;
/** One slot per run whatever the count, newest at the right, so every tenant's chart reads the same way. */
const SLOT = (WIDTH - 2 * PAD) / RECENT_RUNS;
const PLOT = HEIGHT - 2 * PAD;

const BAR_FILL: Record<CrawlRun['status'], string> = {
  succeeded: '#0f6cbd',
  failed: '#a4262c',
  running: '#8a8886',
};

/**
 * A small inline SVG of the tenant's recent runs (newest first in `runs`): a bar per run for its duration
 * (red when it failed, grey while it runs) and a line for the units it spent, each scaled to its own maximum.
 * Every value is a number the page computed; its accessible name (`<title>`) spells them out, since a chart alone
 * tells a screen reader nothing. `id` must be unique on the page.
 */
export function runChart(runs: readonly CrawlRun[], now: Date, id: string): string {
  const ordered = [...runs].slice(0, RECENT_RUNS).reverse();
  if (ordered.length === 0) return '';
  const durations = ordered.map((run) => runDurationMs(run, now));
  const units = ordered.map((run) => run.unitsSpent);
  const longest = Math.max(1, ...durations);
  const most = Math.max(1, ...units);
  const first = RECENT_RUNS - ordered.length;
  const x = (index: number) => PAD + (first + index) * SLOT;
  const bars = ordered.map((run, index) => {
    const height = Math.max(1, (durations[index]! / longest) * PLOT);
    return `<rect x="${fixed(x(index) + SLOT * 0.15)}" y="${fixed(HEIGHT - PAD - height)}" width="${fixed(SLOT * 0.7)}" height="${fixed(height)}" fill="${BAR_FILL[run.status]}"/>`;
  });
  const points = units.map(
    (value, index) => `${fixed(x(index) + SLOT / 2)},${fixed(HEIGHT - PAD - (value / most) * PLOT)}`,
  );
  const dots = points.map((point) => {
    const [cx, cy] = point.split(',');
    return `<circle cx="${cx}" cy="${cy}" r="3" fill="#c55a11"/>`;
  });
  const spoken = ordered
    .map(
      (run, index) =>
        `${run.status}, ${formatDuration(durations[index]!)}, ${formatCount(units[index]!)} units`,
    )
    .join('; ');
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-labelledby="${id}">
<title id="${id}">Last ${ordered.length} runs, oldest first: ${spoken}</title>
<line x1="${PAD}" y1="${HEIGHT - PAD}" x2="${WIDTH - PAD}" y2="${HEIGHT - PAD}" stroke="#8a8886" stroke-width="1"/>
${bars.join('\n')}
${points.length > 1 ? `<polyline points="${points.join(' ')}" fill="none" stroke="#c55a11" stroke-width="2"/>` : ''}
${dots.join('\n')}
</svg>`;
}

/** The chart's legend, in words beside it: what the shapes mean and what their tops stand for. */
export function runChartLegend(runs: readonly CrawlRun[], now: Date): string {
  const recent = runs.slice(0, RECENT_RUNS);
  const longest = Math.max(0, ...recent.map((run) => runDurationMs(run, now)));
  const most = Math.max(0, ...recent.map((run) => run.unitsSpent));
  return (
    `Bars: duration (tallest ${formatDuration(longest)}; red failed, grey running). ` +
    `Line: units spent (highest ${formatCount(most)}). Oldest left, newest right.`
  );
}

function fixed(value: number): string {
  return value.toFixed(1);
}
