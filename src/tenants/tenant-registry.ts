import { odata } from '@azure/data-tables';
import { isNotFound } from '../storage/storage-clients';
import { TableStore } from '../storage/table-store';

/**
 * Tenant statuses of the contract; `active` and `error` are crawled. `offboarded`: removed by the operator (its rows
 * deleted), never crawled, and onboarded again only through a new invitation.
 */
export type TenantStatus = 'active' | 'error' | 'revoked' | 'consent_incomplete' | 'offboarded';

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
  /** When both permissions were last proven: by consent, by a run that read a drive, or by a re-check. */
  permissionsProvenAt: Date | undefined;
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
  permissionsProvenAt?: Date;
  offboardedAt?: Date;
}

const PARTITION = 'tenant';
const STATUSES: readonly TenantStatus[] = ['active', 'error', 'revoked', 'consent_incomplete', 'offboarded'];

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
    permissionsProvenAt: entity.permissionsProvenAt,
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
    if (status === 'active') entity.permissionsProvenAt = consentedAt;
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
   * Notes a check of the tenant's permissions (the plan's re-check of `consent_incomplete` tenants, the status
   * page's "check permissions again"): `missing` empty records when they were proven and makes a
   * `consent_incomplete` tenant `active` (its consent time unchanged); otherwise the tenant waits as
   * `consent_incomplete`, the missing permissions in `lastError`. A revoked or unknown tenant is left alone.
   */
  async recordPermissionCheck(tenantId: string, missing: readonly string[], at: Date): Promise<void> {
    const current = await this.get(tenantId);
    if (!current || current.status === 'revoked' || current.status === 'offboarded') return;
    const entity: TenantEntity = { partitionKey: PARTITION, rowKey: tenantId };
    if (missing.length === 0) {
      entity.permissionsProvenAt = at;
      if (current.status === 'consent_incomplete') {
        entity.status = 'active';
        entity.lastError = '';
      }
    } else {
      entity.status = 'consent_incomplete';
      entity.lastError = `Permissions not granted yet: ${missing.join(', ')} (checked ${at.toISOString()})`;
    }
    await this.table.upsertEntity(entity, 'Merge');
  }

  /** Marks the tenant `offboarded` (never crawled again; consent again only through a new invitation). */
  async markOffboarded(tenantId: string, at: Date): Promise<void> {
    await this.ensure();
    await this.table.upsertEntity<TenantEntity>(
      { partitionKey: PARTITION, rowKey: tenantId, status: 'offboarded', offboardedAt: at, lastError: '' },
      'Merge',
    );
  }

  /** Notes that a run proved both permissions (it listed users and read a drive). */
  async recordPermissionsProven(tenantId: string, at: Date): Promise<void> {
    await this.ensure();
    await this.table.upsertEntity<TenantEntity>(
      { partitionKey: PARTITION, rowKey: tenantId, permissionsProvenAt: at },
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
    // An offboarded tenant stays so whatever a late worker reports.
    if (current.status === 'offboarded') return;
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
