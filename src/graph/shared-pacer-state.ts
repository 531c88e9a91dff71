/**
 * What the pacers of one tenant on different instances share, so that a 429 seen by one holds them all and
 * the tenant's one budget is split between the instances that work on it.
 */
export interface SharedPacerState {
  /** When the tenant's hold ends, in ms since the epoch; 0 when there has never been one. */
  readHold(tenantId: string): Promise<number>;
  /** Moves the tenant's hold to `untilMs`, unless it already ends later: a hold only ever grows. */
  extendHold(tenantId: string, untilMs: number): Promise<void>;
  /**
   * Registers this instance as working on the tenant for the next `ttlMs`; returns how many instances (this one
   * included) currently share the tenant's budget, and the tenant's hold as `readHold` would (read after the
   * registration, so a heartbeat needs no read of its own).
   */
  heartbeat(tenantId: string, instanceId: string, ttlMs: number): Promise<Heartbeat>;
}

/** What a heartbeat finds: the instances sharing the tenant (this one included) and the tenant's hold. */
export interface Heartbeat {
  instances: number;
  holdUntil: number;
}

/** Shared state for the pacers of one process (and for tests): plain maps, no storage. */
export class InMemoryPacerState implements SharedPacerState {
  readonly #now: () => number;
  readonly #holds = new Map<string, number>();
  readonly #instances = new Map<string, Map<string, number>>();

  /** `now` gives ms since the epoch; tests pass their fake clock's. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  readHold(tenantId: string): Promise<number> {
    return Promise.resolve(this.#holds.get(tenantId) ?? 0);
  }

  extendHold(tenantId: string, untilMs: number): Promise<void> {
    this.#holds.set(tenantId, Math.max(this.#holds.get(tenantId) ?? 0, untilMs));
    return Promise.resolve();
  }

  heartbeat(tenantId: string, instanceId: string, ttlMs: number): Promise<Heartbeat> {
    const now = this.#now();
    let instances = this.#instances.get(tenantId);
    if (!instances) {
      instances = new Map();
      this.#instances.set(tenantId, instances);
    }
    instances.set(instanceId, now + ttlMs);
    for (const [id, expiresAt] of instances) if (expiresAt <= now) instances.delete(id);
    return Promise.resolve({ instances: instances.size, holdUntil: this.#holds.get(tenantId) ?? 0 });
  }
}
