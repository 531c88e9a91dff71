import { odata } from '@azure/data-tables';
import { isNotFound } from '../storage/storage-clients';
import { TableStore } from '../storage/table-store';

/** Tenant statuses of the contract; `active` and `error` are crawled. */
export type TenantStatus = 'active' | 'error' | 'revoked' | 'consent_incomplete';

export const CRAWLABLE: ReadonlySet<TenantStatus> = new Set(['active', 'error']);

export interface TenantRecord {
  tenantId: string;
  status: TenantStatus;
  consentedAt: Date | undefined;
  /** The organization's domain when the admin named one; shown instead of the ID. */
  domain: string | undefined;
  lastRunId: string | undefined;
  lastCrawlAt: Date | undefined;
  lastError: string | undefined;
  /** The invitation the tenant was onboarded through (its public ID), under `ONBOARDING=invite`. */
  invitationId: string | undefined;
}

interface TenantEntity {
  partitionKey: string;
  rowKey: string;
  status?: string;
  consentedAt?: Date;
  domain?: string;
  lastRunId?: string;
  lastCrawlAt?: Date;
  lastError?: string;
  invitationId?: string;
}

const PARTITION = 'tenant';
const STATUSES: readonly TenantStatus[] = ['active', 'error', 'revoked', 'consent_incomplete'];

function toRecord(entity: TenantEntity): TenantRecord {
  const status = STATUSES.find((candidate) => candidate === entity.status) ?? 'error';
  return {
    tenantId: entity.rowKey,
    status,
    consentedAt: entity.consentedAt,
    domain: entity.domain || undefined,
    lastRunId: entity.lastRunId || undefined,
    lastCrawlAt: entity.lastCrawlAt,
    lastError: entity.lastError || undefined,
    invitationId: entity.invitationId || undefined,
  };
}

/**
 * The `Tenants` table: which customer organizations consented and whether they are crawled. Writes merge,
 * so consenting again keeps the crawl history and is idempotent.
 */
export class TenantRegistry extends TableStore {
  /** Records verified consent: `active`, or `consent_incomplete` when a permission is missing. */
  async recordConsent(
    tenantId: string,
    status: 'active' | 'consent_incomplete',
    consentedAt: Date,
    domain: string | undefined,
    invitationId?: string,
  ): Promise<void> {
    await this.ensure();
    const entity: TenantEntity = {
      partitionKey: PARTITION,
      rowKey: tenantId,
      status,
      consentedAt,
      lastError: '',
    };
    if (domain) entity.domain = domain;
    if (invitationId) entity.invitationId = invitationId;
    await this.table.upsertEntity(entity, 'Merge');
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    await this.ensure();
    try {
      return toRecord(await this.table.getEntity<TenantEntity>(PARTITION, tenantId));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Every tenant, in tenant ID order. */
  async list(): Promise<TenantRecord[]> {
    await this.ensure();
    const records: TenantRecord[] = [];
    const entities = this.table.listEntities<TenantEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${PARTITION}` },
    });
    for await (const entity of entities) records.push(toRecord(entity));
    return records;
  }

  /**
   * Notes a re-check of a `consent_incomplete` tenant's permissions (before a plan): `missing` empty makes it
   * `active` (its consent time unchanged); otherwise it stays waiting, the missing permissions in `lastError`.
   * A tenant whose status changed meanwhile (revoked, consented again) is left alone.
   */
  async recordPermissionCheck(tenantId: string, missing: readonly string[], at: Date): Promise<void> {
    const current = await this.get(tenantId);
    if (current?.status !== 'consent_incomplete') return;
    await this.table.upsertEntity<TenantEntity>(
      {
        partitionKey: PARTITION,
        rowKey: tenantId,
        status: missing.length === 0 ? 'active' : 'consent_incomplete',
        lastError:
          missing.length === 0
            ? ''
            : `Permissions not granted yet: ${missing.join(', ')} (checked ${at.toISOString()})`,
      },
      'Merge',
    );
  }

  /** Tenants whose status says they are crawled. */
  async listCrawlable(): Promise<TenantRecord[]> {
    return (await this.list()).filter((tenant) => CRAWLABLE.has(tenant.status));
  }

  /** Notes the start of a run of the tenant. */
  async recordRunStarted(tenantId: string, runId: string): Promise<void> {
    await this.ensure();
    await this.table.upsertEntity<TenantEntity>(
      { partitionKey: PARTITION, rowKey: tenantId, lastRunId: runId },
      'Merge',
    );
  }

  /**
   * Notes the end of a crawl attempt. `status` changes the tenant's status (`revoked`, `error`, or `active`
   * after a success; undefined keeps it, for failures that are the app's own); a tenant that is `revoked` or `consent_incomplete` keeps that status unless consent is
   * verified again, so a late batch cannot reactivate it.
   */
  async recordCrawlOutcome(
    tenantId: string,
    outcome: { status: TenantStatus | undefined; at: Date; error?: string; runId?: string },
  ): Promise<void> {
    await this.ensure();
    const current = await this.get(tenantId);
    if (!current) return;
    const keep =
      outcome.status === undefined ||
      ((current.status === 'revoked' || current.status === 'consent_incomplete') &&
        outcome.status !== 'revoked');
    const entity: TenantEntity = {
      partitionKey: PARTITION,
      rowKey: tenantId,
      status: keep ? current.status : (outcome.status ?? current.status),
      lastCrawlAt: outcome.at,
      lastError: outcome.error ?? '',
    };
    if (outcome.runId) entity.lastRunId = outcome.runId;
    await this.table.upsertEntity(entity, 'Merge');
  }
}
