import type { InlineTenantResult } from '../crawl/inline-crawl';

const COLUMNS = [
  'tenant',
  'status',
  'run',
  'usersSeen',
  'usersCrawled',
  'withoutDrive',
  'skipped',
  'itemsStored',
  'itemsDeleted',
  'itemsRead',
  'requests',
  'throttled',
  'unitsSpent',
  'seconds',
  'overIdeal',
] as const;

/** The per-tenant summary table `npm run crawl` and the demo print on stdout. */
export function formatSummaryTable(
  results: readonly InlineTenantResult[],
  names?: Map<string, string>,
): string {
  const rows = results.map((result) => {
    const run = result.run;
    const seconds =
      run?.finishedAt && run.startedAt
        ? ((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000).toFixed(1)
        : '';
    return [
      names?.get(result.tenantId) ?? result.tenantId,
      result.status,
      run ? (run.status === 'failed' ? `failed: ${run.error ?? ''}` : run.status) : 'not run',
      String(run?.usersSeen ?? 0),
      String(run?.usersCrawled ?? 0),
      String(run?.usersWithoutDrive ?? 0),
      String(run?.usersSkipped ?? 0),
      String(run?.itemsStored ?? 0),
      String(run?.itemsDeleted ?? 0),
      String(run?.itemsRead ?? 0),
      String(run?.requests ?? 0),
      String(run?.throttled ?? 0),
      String(run?.unitsSpent ?? 0),
      seconds,
      run?.timeOverIdeal ? run.timeOverIdeal.toFixed(2) : '',
    ];
  });
  const widths = COLUMNS.map((column, index) =>
    Math.max(column.length, ...rows.map((row) => (row[index] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, index) =>
        index >= 3 ? cell.padStart(widths[index] ?? 0) : cell.padEnd(widths[index] ?? 0),
      )
      .join('  ');
  return [line(COLUMNS), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n') + '\n';
}
