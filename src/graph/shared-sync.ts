import type { PacerClock } from './pacer-clock';
import type { SharedPacerState } from './shared-pacer-state';

export interface SharedSyncOptions {
  shared: SharedPacerState;
  tenantId: string;
  instanceId: string;
  clock: PacerClock;
  /** How often at most the shared hold is read; the share is renewed every 4 of those. */
  refreshMs: number;
  /** A hold read from the shared state (`after`: the clock when the read ended). */
  onHold: (until: number, after: number) => void;
  /** The number of instances sharing the tenant's budget, as the heartbeat found it. */
  onShare: (share: number, after: number) => void;
}

/**
 * A pacer's link to the tenant's pacers on other instances (docs/throttling.md, "The hold"): writes the
 * holds this instance declares, reads the others' back, and renews this instance's share of the budget. Storage
 * failures are counted and never stop the pacer: it goes on with what it knows.
 */
export class SharedSync {
  readonly #options: SharedSyncOptions;
  /** When the last read started, and when the last one ended (the view is as fresh as that). */
  #readAt = Number.NEGATIVE_INFINITY;
  #freshAt = Number.NEGATIVE_INFINITY;
  #heartbeatAt = Number.NEGATIVE_INFINITY;
  #read: Promise<void> | undefined;
  #holdToShare = 0;
  #holdWrite: Promise<void> | undefined;
  #errors = 0;

  constructor(options: SharedSyncOptions) {
    this.#options = options;
  }

  /** Shared-state reads and writes that failed. */
  get errors(): number {
    return this.#errors;
  }

  /** Shares a hold until `until`; holds that come while one is written are written after it. */
  shareHold(until: number): void {
    this.#holdToShare = Math.max(this.#holdToShare, until);
    this.#holdWrite ??= this.#writeHold();
  }

  async #writeHold(): Promise<void> {
    try {
      let written = 0;
      while (this.#holdToShare > written) {
        const until = this.#holdToShare;
        try {
          await this.#options.shared.extendHold(this.#options.tenantId, until);
        } catch {
          this.#errors += 1;
        }
        written = until;
      }
    } finally {
      this.#holdWrite = undefined;
    }
  }

  /**
   * Starts a read of the shared hold (and renews this instance's share) when the last one started more than a
   * refresh period ago. Returns the read under way when the view is older than that and nothing was granted for
   * as long (`lastGrantAt`: an idle time or a long wait), so that the caller waits for it before granting; while
   * requests flow, reads stay in the background, however slow the storage.
   */
  refresh(now: number, lastGrantAt: number): Promise<void> | undefined {
    const refreshMs = this.#options.refreshMs;
    if (!this.#read && now - this.#readAt >= refreshMs) {
      this.#readAt = now;
      this.#read = this.#readShared(now).finally(() => {
        this.#read = undefined;
        this.#freshAt = this.#options.clock.now();
      });
    }
    const stale = now - this.#freshAt >= refreshMs;
    const resuming = now - lastGrantAt >= refreshMs;
    return stale && resuming ? this.#read : undefined;
  }

  async #readShared(now: number): Promise<void> {
    const { shared, tenantId, instanceId, refreshMs, clock } = this.#options;
    const heartbeat = now - this.#heartbeatAt >= 4 * refreshMs;
    try {
      const [hold, share] = await Promise.all([
        shared.readHold(tenantId),
        heartbeat ? shared.heartbeat(tenantId, instanceId, 12 * refreshMs) : undefined,
      ]);
      const after = clock.now();
      this.#options.onHold(hold, after);
      if (share !== undefined) {
        this.#heartbeatAt = now;
        this.#options.onShare(share, after);
      }
    } catch {
      this.#errors += 1;
    }
  }
}
