/**
 * The benchmark's chart: Graph units charged per second over time, one line per contender (from the simulator's
 * per-second series), with the tier's documented budget as a dashed line. A plain SVG file, no script.
 */

export interface ChartSeries {
  name: string;
  /** Units charged in each real second from the contender's first charged request. */
  unitsBySecond: number[];
  /** Of those, units charged for throttled requests (drawn as a thin line of the same colour). */
  throttledUnitsBySecond?: number[];
}

/** A contender's series from the simulator's per-second counters of its tenant. */
export function seriesOf(
  name: string,
  stats: { unitsBySecond: number[]; throttledUnitsBySecond: number[] },
): ChartSeries {
  return { name, unitsBySecond: stats.unitsBySecond, throttledUnitsBySecond: stats.throttledUnitsBySecond };
}

const COLOURS = ['#0b6bcb', '#c2410c', '#15803d', '#7e22ce', '#a16207'];
const WIDTH = 900;
const HEIGHT = 420;
const MARGIN = { left: 64, right: 180, top: 36, bottom: 48 };
/** Seconds a point's mean spans: the simulator's windows fill and reset, so single seconds swing widely. */
const SMOOTHING_SECONDS = 5;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The mean of each `SMOOTHING_SECONDS` window that ends at each second. */
function smooth(values: number[]): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i] ?? 0;
    if (i >= SMOOTHING_SECONDS) sum -= values[i - SMOOTHING_SECONDS] ?? 0;
    out.push(sum / Math.min(i + 1, SMOOTHING_SECONDS));
  }
  return out;
}

/** A round step for an axis spanning `max`, about `ticks` of them. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) ?? raw;
}

export function unitsChartSvg(title: string, series: ChartSeries[], budgetPerSecond: number): string {
  const seconds = Math.max(1, ...series.map((s) => s.unitsBySecond.length));
  const smoothed = series.map((s) => ({
    ...s,
    all: smooth(s.unitsBySecond),
    refused: s.throttledUnitsBySecond ? smooth(s.throttledUnitsBySecond) : undefined,
  }));
  const peak = Math.max(budgetPerSecond * 1.25, ...smoothed.flatMap((s) => s.all));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (second: number): number => MARGIN.left + (second / seconds) * plotW;
  const y = (units: number): number => MARGIN.top + plotH - (units / peak) * plotH;
  const path = (values: number[]): string =>
    values.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');

  const parts: string[] = [];
  const xStep = niceStep(seconds, 8);
  for (let s = 0; s <= seconds; s += xStep) {
    parts.push(
      `<line x1="${x(s)}" x2="${x(s)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#e5e7eb"/>`,
      `<text x="${x(s)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${s}</text>`,
    );
  }
  const yStep = niceStep(peak, 6);
  for (let u = 0; u <= peak; u += yStep) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(u)}" y2="${y(u)}" stroke="#e5e7eb"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(u) + 4}" text-anchor="end">${u}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y(budgetPerSecond)}" y2="${y(budgetPerSecond)}" ` +
      `stroke="#111827" stroke-dasharray="6 4"/>`,
  );
  smoothed.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    parts.push(`<path d="${path(s.all)}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    if (s.refused?.some((v) => v > 0)) {
      parts.push(
        `<path d="${path(s.refused)}" fill="none" stroke="${colour}" stroke-width="1" stroke-dasharray="2 2"/>`,
      );
    }
    const ly = MARGIN.top + 16 + index * 22;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right + 16}" x2="${WIDTH - MARGIN.right + 40}" y1="${ly - 4}" y2="${ly - 4}" ` +
        `stroke="${colour}" stroke-width="2"/>`,
      `<text x="${WIDTH - MARGIN.right + 46}" y="${ly}">${escapeXml(s.name)}</text>`,
    );
  });
  const legendY = MARGIN.top + 16 + smoothed.length * 22;
  parts.push(
    `<line x1="${WIDTH - MARGIN.right + 16}" x2="${WIDTH - MARGIN.right + 40}" y1="${legendY - 4}" ` +
      `y2="${legendY - 4}" stroke="#111827" stroke-dasharray="6 4"/>`,
    `<text x="${WIDTH - MARGIN.right + 46}" y="${legendY}">budget</text>`,
    `<text x="${WIDTH - MARGIN.right + 16}" y="${legendY + 22}">dotted: throttled</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
      `font-family="sans-serif" font-size="12" role="img" aria-label="${escapeXml(title)}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle">seconds from the first charged ` +
      `request (${SMOOTHING_SECONDS} s means)</text>`,
    `<text x="16" y="${MARGIN.top + plotH / 2}" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})" ` +
      `text-anchor="middle">units per second</text>`,
    '</svg>',
    '',
  ].join('\n');
}
