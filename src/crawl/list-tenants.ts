import type { TenantRegistry } from '../tenants/tenant-registry';
import type { CrawlRunStore } from './crawl-runs';

/** `GET /api/tenants`: every tenant with its newest run, times as ISO 8601 strings (contract). */
export async function listTenantsWithRuns(registry: TenantRegistry, runs: CrawlRunStore) {
  const tenants = await registry.list();
  return Promise.all(
    tenants.map(async (tenant) => {
      const lastRun = await runs.latest(tenant.tenantId);
      return {
        tenantId: tenant.tenantId,
        status: tenant.status,
        consentedAt: tenant.consentedAt?.toISOString() ?? null,
        lastRunId: tenant.lastRunId ?? null,
        lastCrawlAt: tenant.lastCrawlAt?.toISOString() ?? null,
        lastError: tenant.lastError ?? null,
        permissionsProvenAt: tenant.permissionsProvenAt?.toISOString() ?? null,
        invitationId: tenant.invitationId ?? null,
        lastRun: lastRun
          ? {
              runId: lastRun.runId,
              status: lastRun.status,
              error: lastRun.error ?? null,
              startedAt: lastRun.startedAt,
              finishedAt: lastRun.finishedAt ?? null,
              usersSeen: lastRun.usersSeen,
              usersCrawled: lastRun.usersCrawled,
              usersWithoutDrive: lastRun.usersWithoutDrive,
              usersSkipped: lastRun.usersSkipped,
              itemsStored: lastRun.itemsStored,
              itemsDeleted: lastRun.itemsDeleted,
              itemsRead: lastRun.itemsRead,
              requests: lastRun.requests,
              throttled: lastRun.throttled,
              unitsSpent: lastRun.unitsSpent,
              budgetPerMinute: lastRun.budgetPerMinute ?? null,
              timeOverIdeal: lastRun.timeOverIdeal ?? null,
            }
          : null,
      };
    }),
  );
}
