import type { RequestLogEntry, RequestLogFilter } from './types';

/** Entries kept by default: enough for a benchmark run of ~100k requests with room to spare. */
export const DEFAULT_LOG_CAPACITY = 250_000;

/**
 * The simulator's request log: a ring buffer that keeps the newest `capacity` entries, so a long benchmark cannot
 * exhaust memory. Nothing that must stay exact (throttle counters) is derived from it.
 */
export class RequestLog {
  private readonly entries: RequestLogEntry[] = [];
  private next = 0;
  private droppedCount = 0;

  constructor(private readonly capacity: number = DEFAULT_LOG_CAPACITY) {}

  add(entry: RequestLogEntry): void {
    if (this.entries.length < this.capacity) {
      this.entries.push(entry);
      return;
    }
    this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    this.droppedCount++;
  }

  /** Entries that match every given field, oldest first. */
  query(filter: RequestLogFilter = {}): RequestLogEntry[] {
    const ordered =
      this.entries.length < this.capacity
        ? this.entries
        : [...this.entries.slice(this.next), ...this.entries.slice(0, this.next)];
    return ordered.filter(
      (entry) =>
        (filter.tenantId === undefined || entry.tenantId === filter.tenantId.toLowerCase()) &&
        (filter.clientId === undefined || entry.clientId === filter.clientId.toLowerCase()) &&
        (filter.service === undefined || entry.service === filter.service) &&
        (filter.since === undefined || entry.at >= filter.since),
    );
  }

  /** Entries pushed out of the buffer so far. */
  get dropped(): number {
    return this.droppedCount;
  }
}
