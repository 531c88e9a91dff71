import { odata } from '@azure/data-tables';
import { isConflict, isNotFound } from '../storage/storage-clients';
import { TableStore } from '../storage/table-store';

export type RunStatus = 'running' | 'succeeded' | 'failed';

/** The counters of the contract's `CrawlRuns` table. */
export interface RunCounters {
  usersSeen: number;
  usersCrawled: number;
  usersWithoutDrive: number;
  /** Users whose drive could not be read this run (each has a `CrawlSkips` row). */
  usersSkipped: number;
  itemsStored: number;
  itemsDeleted: number;
  /** driveItems Graph returned this run (listings and deltas): what the run read, against `itemsStored`. */
  itemsRead: number;
  requests: number;
  throttled: number;
  /** Resource units the run's Graph requests cost, throttled answers included (docs/graph-facts.md). */
  unitsSpent: number;
}

export const ZERO_COUNTERS: Readonly<RunCounters> = {
  usersSeen: 0,
  usersCrawled: 0,
  usersWithoutDrive: 0,
  usersSkipped: 0,
  itemsStored: 0,
  itemsDeleted: 0,
  itemsRead: 0,
  requests: 0,
  throttled: 0,
  unitsSpent: 0,
};

const COUNTER_KEYS = Object.keys(ZERO_COUNTERS) as (keyof RunCounters)[];

/** Adds `more` to `into` (missing counters count 0; values are read as numbers, as table rows give them). */
export function addCounters<T extends RunCounters>(
  into: T,
  more: Partial<Record<keyof RunCounters, unknown>>,
): T {
  for (const key of COUNTER_KEYS) into[key] += Number(more[key] ?? 0);
  return into;
}

export interface CrawlRun extends RunCounters {
  tenantId: string;
  runId: string;
  status: RunStatus;
  error: string | undefined;
  startedAt: string;
  finishedAt: string | undefined;
  /** Delta cursors saved before this time are not followed (the tenant's consent, or a full crawl asked for). */
  cursorsFrom: string | undefined;
  /** The documented drive budget of the tenant's licence tier, units a minute (set when the run ends). */
  budgetPerMinute: number | undefined;
  /** The run's duration over the ideal one, `unitsSpent` at `budgetPerMinute` (set when the run ends; 1 is ideal). */
  timeOverIdeal: number | undefined;
}

/** How a finished run's duration compares with the ideal: its units spent at its tier's documented budget. */
export interface RunTiming {
  budgetPerMinute: number;
  timeOverIdeal: number;
}

interface RunEntity extends RunCounters {
  partitionKey: string;
  rowKey: string;
  status: string;
  error?: string;
  startedAt: string;
  finishedAt?: string;
  cursorsFrom?: string;
  budgetPerMinute?: number;
  timeOverIdeal?: number;
  etag?: string;
}

function toRun(entity: RunEntity): CrawlRun {
  return {
    tenantId: entity.partitionKey,
    runId: entity.rowKey,
    status: entity.status === 'succeeded' || entity.status === 'failed' ? entity.status : 'running',
    error: entity.error || undefined,
    startedAt: entity.startedAt,
    finishedAt: entity.finishedAt || undefined,
    cursorsFrom: entity.cursorsFrom || undefined,
    budgetPerMinute: entity.budgetPerMinute || undefined,
    timeOverIdeal: entity.timeOverIdeal || undefined,
    usersSeen: entity.usersSeen ?? 0,
    usersCrawled: entity.usersCrawled ?? 0,
    usersWithoutDrive: entity.usersWithoutDrive ?? 0,
    usersSkipped: entity.usersSkipped ?? 0,
    itemsStored: entity.itemsStored ?? 0,
    itemsDeleted: entity.itemsDeleted ?? 0,
    itemsRead: entity.itemsRead ?? 0,
    requests: entity.requests ?? 0,
    throttled: entity.throttled ?? 0,
    unitsSpent: entity.unitsSpent ?? 0,
  };
}

/** The contract's `CrawlRuns` table: one row per run, newest first in each tenant's partition. */
export class CrawlRunStore extends TableStore {
  async open(tenantId: string, runId: string, startedAt: Date, cursorsFrom?: Date): Promise<void> {
    await this.ensure();
    await this.table.createEntity<RunEntity>({
      partitionKey: tenantId,
      rowKey: runId,
      status: 'running',
      startedAt: startedAt.toISOString(),
      ...(cursorsFrom ? { cursorsFrom: cursorsFrom.toISOString() } : {}),
      ...ZERO_COUNTERS,
    });
  }

  async get(tenantId: string, runId: string): Promise<CrawlRun | undefined> {
    await this.ensure();
    try {
      return toRun(await this.table.getEntity<RunEntity>(tenantId, runId));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The newest run of the tenant (RowKeys sort newest first). */
  async latest(tenantId: string): Promise<CrawlRun | undefined> {
    await this.ensure();
    const pages = this.table
      .listEntities<RunEntity>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } })
      .byPage({ maxPageSize: 1 });
    for await (const page of pages) {
      const first = page[0];
      return first ? toRun(first) : undefined;
    }
    return undefined;
  }

  /** The tenant's newest `count` runs, newest first (RowKeys sort newest first). */
  async recent(tenantId: string, count: number): Promise<CrawlRun[]> {
    await this.ensure();
    const runs: CrawlRun[] = [];
    const pages = this.table
      .listEntities<RunEntity>({ queryOptions: { filter: odata`PartitionKey eq ${tenantId}` } })
      .byPage({ maxPageSize: count });
    for await (const page of pages) {
      for (const entity of page.slice(0, count)) runs.push(toRun(entity));
      break;
    }
    return runs;
  }

  /** Every run still marked `running`, any tenant. */
  async listRunning(): Promise<CrawlRun[]> {
    await this.ensure();
    const runs: CrawlRun[] = [];
    for await (const entity of this.table.listEntities<RunEntity>({
      queryOptions: { filter: `status eq 'running'` },
    })) {
      runs.push(toRun(entity));
    }
    return runs;
  }

  /** Publishes progress counters of a run that is still running. */
  async updateCounters(tenantId: string, runId: string, counters: RunCounters): Promise<void> {
    await this.ensure();
    // Only a running run: a progress update that arrives after the run ended must not replace its final counters.
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const entity = await this.table.getEntity<RunEntity>(tenantId, runId).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      if (!entity || entity.status !== 'running') return;
      try {
        await this.table.updateEntity({ partitionKey: tenantId, rowKey: runId, ...counters }, 'Merge', {
          etag: entity.etag ?? '*',
        });
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  /**
   * Ends a run once: only a `running` row changes (guarded by its ETag), so a late or repeated finish cannot
   * turn a failed run into a succeeded one or the other way round. Returns whether this call ended it.
   */
  async finish(
    tenantId: string,
    runId: string,
    outcome: {
      status: 'succeeded' | 'failed';
      finishedAt: Date;
      error?: string;
      counters?: RunCounters;
      timing?: RunTiming;
    },
  ): Promise<boolean> {
    await this.ensure();
    for (let attempt = 0; attempt < 5; attempt += 1) {
      let entity: RunEntity;
      try {
        entity = await this.table.getEntity<RunEntity>(tenantId, runId);
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      if (entity.status !== 'running') return false;
      try {
        await this.table.updateEntity(
          {
            partitionKey: tenantId,
            rowKey: runId,
            status: outcome.status,
            finishedAt: outcome.finishedAt.toISOString(),
            error: outcome.error ?? '',
            ...(outcome.counters ?? {}),
            ...(outcome.timing ?? {}),
          },
          'Merge',
          { etag: entity.etag ?? '*' },
        );
        return true;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    return false;
  }
}
