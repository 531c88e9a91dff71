/**
 * CPU time of other processes from `/proc/<pid>/stat` (utime + stime, in clock ticks of `getconf CLK_TCK`), and
 * a sampler that tells, for a stretch of time, the mean and the busiest second of each watched process.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) the process has used so far; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Peak resident set size of a process in KiB (`VmHWM`), when readable. */
export function peakRssKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** CPU use of one process over a stretch of time: cores on average, and in its busiest sampled second. */
export interface CpuFigure {
  /** CPU seconds used in the stretch. */
  seconds: number;
  /** Mean cores used (seconds / wall seconds). */
  mean: number;
  /** Highest cores used over one sampling interval. */
  peak: number;
}

/** Samples the CPU of named processes every `intervalMs` between `start()` and `stop()`. */
export class CpuSampler {
  readonly #pids: Record<string, number>;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #start: Record<string, number> = {};
  #last: Record<string, number> = {};
  #lastAt = 0;
  #peak: Record<string, number> = {};

  constructor(pids: Record<string, number>, intervalMs = 1_000) {
    this.#pids = pids;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#startedAt = Date.now();
    this.#lastAt = this.#startedAt;
    for (const [name, pid] of Object.entries(this.#pids)) {
      const now = cpuSeconds(pid) ?? 0;
      this.#start[name] = now;
      this.#last[name] = now;
      this.#peak[name] = 0;
    }
    this.#timer = setInterval(() => this.#sample(), this.#intervalMs);
    this.#timer.unref();
  }

  #sample(): void {
    const at = Date.now();
    const wall = (at - this.#lastAt) / 1000;
    if (wall <= 0) return;
    for (const [name, pid] of Object.entries(this.#pids)) {
      const now = cpuSeconds(pid);
      if (now === undefined) continue;
      const used = now - (this.#last[name] ?? now);
      this.#peak[name] = Math.max(this.#peak[name] ?? 0, used / wall);
      this.#last[name] = now;
    }
    this.#lastAt = at;
  }

  /** Stops sampling; the figures of every process since `start()`. */
  stop(): Record<string, CpuFigure> {
    if (this.#timer) clearInterval(this.#timer);
    this.#sample();
    const wall = Math.max(0.001, (Date.now() - this.#startedAt) / 1000);
    const figures: Record<string, CpuFigure> = {};
    for (const name of Object.keys(this.#pids)) {
      const seconds = (this.#last[name] ?? 0) - (this.#start[name] ?? 0);
      figures[name] = { seconds, mean: seconds / wall, peak: this.#peak[name] ?? 0 };
    }
    return figures;
  }
}
