/**
 * How fast this machine runs single-threaded JavaScript right now. A shared machine's speed moves from hour to
 * hour (a neighbour's load, the host's clock), and every CPU figure of the benchmark moves with it: measured here
 * on the same code, Azurite spent 44 s of CPU on the large crawl one day and 137 s another, and the crawler's
 * `cpuMicrosPerItem` went from 37 to 96 in step. This fixed workload, timed at the start and the end of a run,
 * tells a slow machine from a slow crawler when two runs' CPU figures differ.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Drive-item-shaped records, the same every run (no randomness, no clock). */
function fixedRecords(count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, index) => ({
    id: `01CALIBRATION${String(index).padStart(8, '0')}`,
    name: `Quarterly report ${index % 97}.docx`,
    size: (index * 7_919) % 5_000_000,
    webUrl: `https://contoso-my.sharepoint.com/personal/user_${index % 311}/Documents/report-${index}.docx`,
    eTag: `"{${String(index).padStart(8, '0')}-0000-4000-8000-000000000000},${index % 9}"`,
    lastModifiedDateTime: new Date(Date.UTC(2026, 0, 1) + index * 60_000).toISOString(),
    file: { mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
  }));
}

/** One pass: serialize, parse back and hash what a few thousand items would be as Graph and as table JSON. */
function pass(records: Array<Record<string, unknown>>): string {
  const hash = createHash('sha256');
  for (let round = 0; round < 8; round += 1) {
    const text = JSON.stringify({ value: records });
    const parsed = JSON.parse(text) as { value: Array<Record<string, unknown>> };
    for (const item of parsed.value) hash.update(JSON.stringify({ PartitionKey: 'calibration', ...item }));
  }
  return hash.digest('hex');
}

/** CPU milliseconds of the fixed workload on this thread: the median of five timed passes after a warm-up. */
export function calibrationCpuMs(): number {
  const records = fixedRecords(5_000);
  pass(records);
  const times: number[] = [];
  for (let run = 0; run < 5; run += 1) {
    const before = process.cpuUsage();
    pass(records);
    const used = process.cpuUsage(before);
    times.push((used.user + used.system) / 1_000);
  }
  times.sort((a, b) => a - b);
  return times[2] ?? 0;
}

/** Ticks of every CPU so far from `/proc/stat` (Linux): all of them, and those stolen by the hypervisor. */
export function cpuTicks(): { total: number; steal: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
    const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
    return { total, steal: fields[7] ?? 0 };
  } catch {
    return undefined;
  }
}
