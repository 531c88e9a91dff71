/** How the status page writes numbers, durations and times: the same way everywhere on the page. */

/** `1,234,567`: counts and units. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** `850 ms`, `42 s`, `3 min 20 s`, `2 h 5 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
}

/** `2025-06-01 12:03 UTC`: one zone for every operator, to the minute. */
export function formatTime(when: Date): string {
  return when.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
