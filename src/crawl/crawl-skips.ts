import { odata } from '@azure/data-tables';
import type { DriveSkip, SkipReason } from '../graph/drive-answer';
import { isNotFound } from '../storage/storage-clients';
import { transactionChunks } from '../storage/table-limits';
import { upsertTransaction } from '../storage/table-batch';
import { TableStore } from '../storage/table-store';

/** A user whose drive could not be read this run (the contract's `CrawlSkips` row). */
export interface CrawlSkip {
  userId: string;
  userPrincipalName: string;
  reason: SkipReason;
  httpStatus: number;
  graphCode: string | undefined;
  message: string | undefined;
  firstSkippedAt: string;
  lastSkippedAt: string;
  runId: string;
}

interface SkipEntity {
  partitionKey: string;
  rowKey: string;
  userPrincipalName?: string;
  reason?: string;
  httpStatus?: number;
  graphCode?: string;
  message?: string;
  firstSkippedAt?: string;
  lastSkippedAt?: string;
  runId?: string;
}

const REASONS: readonly SkipReason[] = ['locked', 'accessDenied', 'failing'];

function toSkip(entity: SkipEntity): CrawlSkip {
  return {
    userId: entity.rowKey,
    userPrincipalName: entity.userPrincipalName ?? '',
    reason: REASONS.find((reason) => reason === entity.reason) ?? 'failing',
    httpStatus: entity.httpStatus ?? 0,
    graphCode: entity.graphCode || undefined,
    message: entity.message || undefined,
    firstSkippedAt: entity.firstSkippedAt ?? '',
    lastSkippedAt: entity.lastSkippedAt ?? '',
    runId: entity.runId ?? '',
  };
}

/**
 * The contract's `CrawlSkips` table (partition: tenant, row: user): who could not be crawled, since when and
 * why. A batch records its skipped users and clears the rows of users it crawled; the end of a run clears the
 * rows of users it did not list at all.
 */
export class CrawlSkipStore extends TableStore {
  /** Every skip row of the tenant, by user ID. */
  async list(tenantId: string): Promise<Map<string, CrawlSkip>> {
    await this.ensure();
    const skips = new Map<string, CrawlSkip>();
    for await (const entity of this.table.listEntities<SkipEntity>({
      queryOptions: { filter: odata`PartitionKey eq ${tenantId}` },
    })) {
      skips.set(entity.rowKey, toSkip(entity));
    }
    return skips;
  }

  /**
   * Records one batch's outcome: a row for each skipped user (keeping when they were first skipped), and no row
   * for the batch's users that were crawled or found without a drive. Safe to repeat: a retried batch writes
   * the same rows and removes the same ones.
   */
  async recordBatch(
    tenantId: string,
    runId: string,
    at: Date,
    skipped: ReadonlyArray<{ user: { id: string; upn: string }; skip: DriveSkip }>,
    settledUserIds: readonly string[],
  ): Promise<void> {
    await this.ensure();
    const settled = new Set(settledUserIds);
    // One read of the tenant's skips: rows are few (only users that could not be read), and it tells which users
    // of the batch have a row to remove without a request per user.
    const existing = await this.list(tenantId);
    const now = at.toISOString();
    const rows = skipped.map(({ user, skip }) => ({
      partitionKey: tenantId,
      rowKey: user.id,
      userPrincipalName: user.upn,
      reason: skip.reason,
      httpStatus: skip.status,
      graphCode: skip.graphCode ?? '',
      message: skip.message ?? '',
      firstSkippedAt: existing.get(user.id)?.firstSkippedAt || now,
      lastSkippedAt: now,
      runId,
    }));
    for (const chunk of transactionChunks(
      rows,
      (row) => 2 * (row.message.length + row.userPrincipalName.length) + 512,
    )) {
      await upsertTransaction(this.table, chunk, 'Replace');
    }
    for (const userId of existing.keys()) {
      if (settled.has(userId)) await this.#delete(tenantId, userId);
    }
  }

  /**
   * At the end of a run that listed every user: removes the rows of users the run did not skip (they were
   * crawled, or are no longer licensed or gone), and returns the users it did skip, whose rows the sweep keeps.
   */
  async settleRun(tenantId: string, runId: string): Promise<Set<string>> {
    const kept = new Set<string>();
    for (const [userId, skip] of await this.list(tenantId)) {
      if (skip.runId === runId) kept.add(userId);
      else await this.#delete(tenantId, userId);
    }
    return kept;
  }

  async #delete(tenantId: string, userId: string): Promise<void> {
    try {
      await this.table.deleteEntity(tenantId, userId);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
