import type { PacerClock } from './pacer-clock';
import type { SharedPacerState } from './shared-pacer-state';

export interface SharedSyncOptions {
  shared: SharedPacerState;
  tenantId: string;
  instanceId: string;
  clock: PacerClock;
  /**
   * How often at most the shared hold is read while other instances share the tenant; the share is renewed
   * every `HEARTBEAT_REFRESHES` of those, and alone an instance reads only then.
   */
  refreshMs: number;
  /** A hold read from the shared state (`after`: the clock when the read ended). */
  onHold: (until: number, after: number) => void;
  /** The number of instances sharing the tenant's budget, as the heartbeat found it. */
  onShare: (share: number, after: number) => void;
}

/** Refresh periods between heartbeats; a heartbeat row lives three heartbeats. */
const HEARTBEAT_REFRESHES = 4;
const HEARTBEAT_TTL_REFRESHES = 12;

/**
 * A pacer's link to the tenant's pacers on other instances (docs/throttling.md, "The hold"): writes the
 * holds this instance declares, reads the others' back, and renews this instance's share of the budget. While the
 * last heartbeat found this instance alone on the tenant, the hold is read only with each heartbeat (the heartbeat
 * reads the hold's row anyway): nobody else can have written it, and an instance that joins is seen at the next
 * heartbeat. Storage failures are counted and never stop the pacer: it goes on with what it knows.
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
  /** The last heartbeat found no other instance on the tenant (none yet: assume others). */
  #alone = false;

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
   * refresh period ago (a heartbeat period while alone). Returns the read under way when the view is older than that and nothing was granted for
   * as long (`lastGrantAt`: an idle time or a long wait), so that the caller waits for it before granting; while
   * requests flow, reads stay in the background, however slow the storage.
   */
  refresh(now: number, lastGrantAt: number): Promise<void> | undefined {
    const refreshMs = this.#alone ? HEARTBEAT_REFRESHES * this.#options.refreshMs : this.#options.refreshMs;
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

  /** Reads the shared hold; when a heartbeat is due, the heartbeat reads it (and renews the share). */
  async #readShared(now: number): Promise<void> {
    const { shared, tenantId, instanceId, refreshMs, clock } = this.#options;
    try {
      if (now - this.#heartbeatAt >= HEARTBEAT_REFRESHES * refreshMs) {
        const beat = await shared.heartbeat(tenantId, instanceId, HEARTBEAT_TTL_REFRESHES * refreshMs);
        const after = clock.now();
        this.#heartbeatAt = now;
        this.#alone = beat.instances <= 1;
        this.#options.onHold(beat.holdUntil, after);
        this.#options.onShare(beat.instances, after);
      } else {
        const hold = await shared.readHold(tenantId);
        this.#options.onHold(hold, clock.now());
      }
    } catch {
      this.#errors += 1;
    }
  }
}
