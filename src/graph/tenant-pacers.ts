import { tierForLicensedUsers } from './budget-tiers';
import type { RequestPacer } from './graph-types';
import { TenantPacer } from './pacer';
import type { SharedPacerState } from './shared-pacer-state';
import { TenantHold } from './tenant-hold';

/**
 * Directory budget (docs/graph-facts.md): 3,500 units per 10 s for the smallest tenants, about 1 unit a page of the
 * users listing.
 */
const DIRECTORY_UNITS_PER_MINUTE = 21_000;

export interface TenantPacersOptions {
  shared: SharedPacerState;
  /** This process's name among the instances sharing a tenant's budget. */
  instanceId: string;
  /** Replaces the drive pacers (tests, the benchmark). */
  drives?: (tenantId: string, licensedUsers?: number) => RequestPacer;
}

/**
 * The pacers of one process: per tenant one for its drive calls (the OneDrive budget, shared with the tenant's
 * pacers on other instances) and one for its directory calls (a budget of its own), both behind the tenant's one
 * hold (docs/throttling.md, "The hold").
 */
export class TenantPacers {
  readonly #options: TenantPacersOptions;
  readonly #drives = new Map<string, RequestPacer>();
  readonly #directory = new Map<string, RequestPacer>();
  readonly #holds = new Map<string, TenantHold>();

  constructor(options: TenantPacersOptions) {
    this.#options = options;
  }

  /** The tenant's drive pacer; `licensedUsers` sets its starting budget the first time it is asked for. */
  drives(tenantId: string, licensedUsers?: number): RequestPacer {
    if (this.#options.drives) return this.#options.drives(tenantId, licensedUsers);
    let pacer = this.#drives.get(tenantId);
    if (!pacer) {
      pacer = new TenantPacer({
        tenantId,
        unitsPerMinute: tierForLicensedUsers(licensedUsers ?? 0),
        shared: this.#options.shared,
        instanceId: this.#options.instanceId,
        hold: this.#holdOf(tenantId),
      });
      this.#drives.set(tenantId, pacer);
    }
    return pacer;
  }

  /** The tenant's directory pacer (the users listing). */
  directory(tenantId: string): RequestPacer {
    let pacer = this.#directory.get(tenantId);
    if (!pacer) {
      pacer = new TenantPacer({
        tenantId: `${tenantId}:directory`,
        unitsPerMinute: DIRECTORY_UNITS_PER_MINUTE,
        instanceId: this.#options.instanceId,
        hold: this.#holdOf(tenantId),
      });
      this.#directory.set(tenantId, pacer);
    }
    return pacer;
  }

  #holdOf(tenantId: string): TenantHold {
    let hold = this.#holds.get(tenantId);
    if (!hold) this.#holds.set(tenantId, (hold = new TenantHold()));
    return hold;
  }
}
