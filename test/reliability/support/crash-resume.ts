import type { AppContext } from '../../../src/app-context';
import { TABLES } from '../../../src/storage/storage-clients';
import { startProduct, runCrawl } from './crawl-process';
import { expectExactCrawl, expectedCrawl, graphRequestsSeen, itemRows, onboard, runsOf } from './exact-crawl';
import { createReliabilityApp } from './reliability-app';

/** With 50 ms of Graph latency, a crawl of several seconds here: room to kill it at any point. */
const USERS = 1_000;
/** Simulated ms of Graph latency per round trip, and what it becomes just before the kill point. */
const LATENCY_MS = 3_000;
const SLOW_LATENCY_MS = 20_000;

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Users the run has reconciled so far: their `CrawlUserIndex` row carries its run ID. */
async function usersReconciled(context: AppContext, tenantId: string, runId: string): Promise<number> {
  let count = 0;
  try {
    for await (const _row of context.storage.table(TABLES.userIndex).listEntities({
      queryOptions: { filter: `PartitionKey eq '${tenantId}' and runId eq '${runId}'`, select: ['RowKey'] },
    })) {
      count += 1;
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return count;
}

/** The users count of the CLI's latest progress line on stderr (`[3s] tenants 0/1  users 420 ...`). */
function usersInProgressLine(stderr: string): number {
  const counts = [...stderr.matchAll(/\busers (\d+)/g)];
  return Number(counts[counts.length - 1]?.[1] ?? 0);
}

/**
 * `npm run crawl` of a large tenant is killed with SIGKILL once `fraction` of its users with items are stored;
 * the drives change while it is down; `npm run crawl` again must end exact: every row as the drives are now, the
 * rows the killed run stored for vanished items gone and counted, the killed run marked failed, the tenant
 * crawlable.
 */
export function describeCrashAndResume(fraction: number): void {
  const percent = Math.round(fraction * 100);
  describe(`npm run crawl killed at ${percent}% of a large crawl`, () => {
    it(`ends exact when run again after a SIGKILL at ${percent}% of the users`, async () => {
      const app = await createReliabilityApp();
      const cloud = app.cloud;
      const tenant = await onboard(cloud, app.context, app.clientId, {
        users: USERS,
        itemsPerUser: [0, 6],
        withoutDriveShare: 0.05,
        latencyMs: LATENCY_MS,
      });

      // Progress counts users with items only (one with none has nothing to store, and no index row): measured
      // against all licensed users, 80% would fall at the very end of the crawl, about a fifth having no items.
      const before = await expectedCrawl(cloud, tenant.tenantId);
      const usersWithItems = Object.values(before.drives).filter((items) => items.length > 0).length;
      const killAt = fraction * usersWithItems;

      const crawl = startProduct('src/cli/crawl.ts', app.env, ['--tenant', tenant.tenantId]);
      let killedAt = 0;
      let runId = '';
      let slowed = false;
      try {
        while (crawl.child.exitCode === null) {
          const run = await app.context.runs.latest(tenant.tenantId);
          if (run?.status === 'running') {
            runId = run.runId;
            // Two views of the progress, whichever is ahead: rows of the index, and the CLI's progress line.
            const done = Math.max(
              await usersReconciled(app.context, tenant.tenantId, runId),
              usersInProgressLine(crawl.stderr()),
            );
            if (done >= killAt) {
              crawl.kill();
              killedAt = done;
              break;
            }
            // Near the point, Graph slows down: on a fast machine the last fifth of the crawl could otherwise
            // end between two looks at the progress, and nothing would be killed.
            if (!slowed && done >= 0.75 * killAt) {
              slowed = true;
              await cloud.setThrottle(tenant.tenantId, { latencyMs: SLOW_LATENCY_MS });
            }
          }
          await sleep(50);
        }
      } finally {
        crawl.kill();
      }
      await cloud.setThrottle(tenant.tenantId, { latencyMs: LATENCY_MS });
      const ended = await crawl.exited;
      expect({ signal: ended.signal, stderr: crawl.stderr().slice(-500) }).toMatchObject({
        signal: 'SIGKILL',
      });
      expect(killedAt).toBeGreaterThan(0);
      expect(killedAt).toBeLessThan(usersWithItems);

      // The crash left the run `running` and part of the rows stored.
      expect((await app.context.runs.get(tenant.tenantId, runId))?.status).toBe('running');
      const stored = await itemRows(app.context, tenant.tenantId);
      expect(stored.length).toBeGreaterThan(0);

      // While it is down, the drives move on: items of users already stored are deleted or renamed, items are
      // added, one stored user loses the license and another is deleted.
      const storedUsers = [...new Set(stored.map((row) => row.userId))];
      const drives = await cloud.drives(tenant.tenantId);
      for (const userId of storedUsers.slice(0, 10)) {
        const items = drives[userId] ?? [];
        if (items[0]) await cloud.deleteItem(tenant.tenantId, userId, items[0].id);
        if (items[1])
          await cloud.renameItem(tenant.tenantId, userId, items[1].id, `renamed ${items[1].name}`);
        await cloud.addItem(tenant.tenantId, userId, { name: `added after the crash ${userId}.txt` });
      }
      const leaving = storedUsers.slice(10, 12);
      if (leaving[0]) await cloud.setLicensed(tenant.tenantId, leaving[0], false);
      if (leaving[1]) await cloud.deleteUser(tenant.tenantId, leaving[1]);

      const now = new Set(
        Object.entries(await cloud.drives(tenant.tenantId)).flatMap(([userId, items]) =>
          items.map((item) => `${tenant.tenantId}_${userId}/${item.id}`),
        ),
      );
      const vanished = stored.filter((row) => !now.has(`${row.partitionKey}/${row.rowKey}`)).length;
      expect(vanished).toBeGreaterThan(0);

      const since = Date.now();
      const again = await runCrawl(app.env, ['--tenant', tenant.tenantId]);
      expect({ code: again.code, stderr: again.stderr.slice(-500) }).toMatchObject({ code: 0 });
      expect(again.stdout).toMatch(/succeeded/);

      const latest = await app.context.runs.latest(tenant.tenantId);
      expect(latest?.runId).not.toBe(runId);
      const { run } = await expectExactCrawl(cloud, app.context, tenant.tenantId, latest?.runId ?? '');
      expect(run.itemsDeleted).toBe(vanished);
      expect(run.requests).toBe(
        (await graphRequestsSeen(cloud, tenant.tenantId, app.clientId, since)).requests,
      );

      // Two runs: the killed one failed with its reason, the new one succeeded; the tenant stays crawlable.
      const runs = await runsOf(app.context, tenant.tenantId);
      expect(runs.map((r) => r.status)).toEqual(['succeeded', 'failed']);
      expect(runs[1]?.runId).toBe(runId);
      expect(runs[1]?.error).toMatch(/Interrupted/);
      expect(await app.context.registry.get(tenant.tenantId)).toMatchObject({
        status: 'active',
        lastRunId: latest?.runId,
      });
    });
  });
}
