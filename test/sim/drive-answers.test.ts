import type { Client } from '@microsoft/microsoft-graph-client';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import { LOCKED_MESSAGE } from '../../dev/sim/drive-resources';
import { assertLegalItemName } from '../../dev/sim/seeded-tenant';
import { SimClient } from '../../dev/sim/sim-client';
import { SimError } from '../../dev/sim/sim-error';
import type { DriveAnomaly, SimUser, TenantInfo, TenantSpec } from '../../dev/sim/types';
import {
  credential,
  failureOf,
  graphClient,
  logDuring,
  newTenant,
  uniqueSeed,
  ownCloudWithApp,
} from './sim-sdk';

type GraphFailure = Error & { statusCode: number; code: string; body: string };

/** A value the simulator must refuse, typed as an answer. */
const bogus = (answer: string): DriveAnomaly => answer as DriveAnomaly;

interface BatchResponse {
  responses: Array<{
    id: string;
    status: number;
    body: { error?: { code: string; message: string; innerError?: { code?: string } } };
  }>;
}

/** Each answer as Graph gives it: status, error code, message and (for 423) the inner code. */
const ANSWERS: Array<{
  anomaly: DriveAnomaly;
  status: number;
  code: string;
  message: string;
  inner?: string;
}> = [
  { anomaly: 'locked', status: 423, code: 'notAllowed', message: LOCKED_MESSAGE, inner: 'resourceLocked' },
  { anomaly: 'accessDenied', status: 403, code: 'accessDenied', message: 'Access denied' },
  {
    anomaly: 'mysiteUrl400',
    status: 400,
    code: 'BadRequest',
    message: "Unable to retrieve user's mysite URL.",
  },
  {
    anomaly: 'noSpoLicense400',
    status: 400,
    code: 'BadRequest',
    message: 'Tenant does not have a SPO license.',
  },
  { anomaly: 'unknownError404', status: 404, code: 'UnknownError', message: '404 FILE NOT FOUND' },
];

describe('simulated Graph drive answers other than items', () => {
  const own = ownCloudWithApp(60);

  /** A consented tenant where every user is licensed with a drive, a Graph client on it, and its users. */
  async function tenantWith(
    spec: Partial<TenantSpec>,
  ): Promise<{ tenant: TenantInfo; client: Client; users: SimUser[] }> {
    const tenant = await newTenant(own.cloud, own.app.clientId, {
      unlicensedShare: 0,
      withoutDriveShare: 0,
      budgetPerWindow: 100_000,
      ...spec,
    });
    const client = graphClient(
      own.cloud,
      credential(own.cloud, tenant.tenantId, own.app.clientId, own.app.secret),
    );
    return { tenant, client, users: await own.cloud.listUsers(tenant.tenantId) };
  }

  interface Listing {
    pages: string[][];
    names: string[];
  }

  async function listPages(client: Client, userId: string, top: number): Promise<Listing> {
    const pages: string[][] = [];
    let page = (await client
      .api(`/users/${userId}/drive/root/children`)
      .query({ $select: 'id,name', $top: String(top) })
      .get()) as { '@odata.nextLink'?: string; value: Array<{ name: string }> };
    pages.push(page.value.map((item) => item.name));
    while (page['@odata.nextLink']) {
      if (pages.length > 10_000) throw new Error('paging does not end');
      page = (await client.api(page['@odata.nextLink']).get()) as typeof page;
      pages.push(page.value.map((item) => item.name));
    }
    return { pages, names: pages.flat() };
  }

  describe('each answer alone', () => {
    let setup: Awaited<ReturnType<typeof tenantWith>>;

    beforeAll(async () => {
      setup = await tenantWith({ users: ANSWERS.length + 1, itemsPerUser: 3 });
      for (const [index, answer] of ANSWERS.entries()) {
        await own.cloud.setDriveAnomaly(setup.tenant.tenantId, setup.users[index]!.id, answer.anomaly);
      }
    });

    it.each(ANSWERS.map((answer, index) => [answer.anomaly, answer, index] as const))(
      '%s: answers the children listing and /drive as Graph does',
      async (_, answer, index) => {
        const user = setup.users[index]!;

        const children = (await failureOf(
          setup.client.api(`/users/${user.id}/drive/root/children`).get(),
        )) as GraphFailure;
        const drive = (await failureOf(setup.client.api(`/users/${user.id}/drive`).get())) as GraphFailure;

        for (const error of [children, drive]) {
          expect(error.statusCode).toBe(answer.status);
          expect(error.code).toBe(answer.code);
          expect(error.message).toBe(answer.message);
          const inner = (JSON.parse(error.body) as { innerError: { code?: string; 'request-id': string } })
            .innerError;
          expect(inner.code).toBe(answer.inner);
          expect(inner['request-id']).toMatch(/^[0-9a-f-]{36}$/);
        }
      },
    );

    it('answers every one of them next to a normal drive in one $batch, each charged like its request', async () => {
      const requests = setup.users.map((user, index) => ({
        id: String(index + 1),
        method: 'GET',
        url: `/users/${user.id}/drive/root/children?$select=id,name`,
      }));

      let batch: BatchResponse | undefined;
      const log = await logDuring(own.cloud, { tenantId: setup.tenant.tenantId }, async () => {
        batch = (await setup.client.api('/$batch').post({ requests })) as BatchResponse;
      });

      expect(batch!.responses.map((r) => r.status)).toEqual([...ANSWERS.map((a) => a.status), 200]);
      expect(batch!.responses.slice(0, -1).map((r) => [r.body.error?.code, r.body.error?.message])).toEqual(
        ANSWERS.map((a) => [a.code, a.message]),
      );
      expect(batch!.responses[0]!.body.error?.innerError?.code).toBe('resourceLocked');
      expect(log.filter((e) => e.inBatch).map((e) => [e.status, e.units])).toEqual([
        ...ANSWERS.map((a) => [a.status, 2]),
        [200, 2],
      ]);
    });

    it('reports the answers in listUsers, drives() and the counts', async () => {
      const users = await own.cloud.listUsers(setup.tenant.tenantId);
      const drives = await own.cloud.drives(setup.tenant.tenantId);
      const info = own.cloud.tenantInfoSync(setup.tenant.tenantId);

      expect(users.map((u) => [u.driveAnomaly, u.hasDrive])).toEqual([
        ['locked', true],
        ['accessDenied', true],
        ['mysiteUrl400', false],
        ['noSpoLicense400', false],
        ['unknownError404', false],
        [undefined, true],
      ]);
      expect(Object.keys(drives)).toEqual([users[0]!.id, users[1]!.id, users[5]!.id]);
      expect(drives[users[0]!.id]).toHaveLength(3);
      expect(info).toMatchObject({ licensedUsers: 6, licensedWithDrive: 3, items: 9 });
    });
  });

  it('turns an answer on and back to items, keeping the drive and its items throughout', async () => {
    const { tenant, client, users } = await tenantWith({ users: 4, itemsPerUser: 5 });
    const user = users[1]!;
    const items = (await own.cloud.drives(tenant.tenantId))[user.id]!.map((item) => item.name);
    const before = own.cloud.tenantInfoSync(tenant.tenantId);

    await own.cloud.setDriveAnomaly(tenant.tenantId, user.id, 'locked');
    const locked = (await failureOf(
      client.api(`/users/${user.id}/drive/root/children`).get(),
    )) as GraphFailure;
    const lockedInfo = own.cloud.tenantInfoSync(tenant.tenantId);
    await own.cloud.setDriveAnomaly(tenant.tenantId, user.userPrincipalName, 'unknownError404');
    const missing = (await failureOf(
      client.api(`/users/${user.id}/drive/root/children`).get(),
    )) as GraphFailure;
    const missingInfo = own.cloud.tenantInfoSync(tenant.tenantId);
    const missingDrives = await own.cloud.drives(tenant.tenantId);
    await own.cloud.setDriveAnomaly(tenant.tenantId, user.id, 'items');
    const listed = await listPages(client, user.id, 200);

    expect(locked.statusCode).toBe(423);
    expect(lockedInfo).toEqual(before);
    expect(missing.statusCode).toBe(404);
    expect(missingInfo).toMatchObject({
      licensedWithDrive: before.licensedWithDrive - 1,
      items: before.items - 5,
    });
    expect(Object.keys(missingDrives)).not.toContain(user.id);
    expect(listed.names).toEqual(items);
    expect(own.cloud.tenantInfoSync(tenant.tenantId)).toEqual(before);
    expect((await own.cloud.listUsers(tenant.tenantId))[1]).not.toHaveProperty('driveAnomaly');
  });

  it('refuses an unknown answer and a user without a provisioned drive', async () => {
    const { tenant, users } = await tenantWith({ users: 2, withoutDriveShare: 1 });

    await expect(own.cloud.setDriveAnomaly(tenant.tenantId, users[0]!.id, bogus('gone'))).rejects.toThrow(
      /answer must be/,
    );
    await expect(own.cloud.setDriveAnomaly(tenant.tenantId, users[0]!.id, 'locked')).rejects.toThrow(
      /has no OneDrive/,
    );
  });

  it('sets an answer over the control API from another process (SimClient)', async () => {
    const { tenant, client, users } = await tenantWith({ users: 2, itemsPerUser: 2 });
    const remote = new SimClient(own.cloud.url);
    const user = users[0]!;

    await remote.setDriveAnomaly(tenant.tenantId, user.id, 'accessDenied');
    const denied = (await failureOf(
      client.api(`/users/${user.id}/drive/root/children`).get(),
    )) as GraphFailure;
    const remoteUsers = await remote.listUsers(tenant.tenantId);
    await remote.setDriveAnomaly(tenant.tenantId, user.id, 'items');
    const refusal = (await remote
      .setDriveAnomaly(tenant.tenantId, user.id, bogus('nope'))
      .catch((e: unknown) => e)) as SimError;

    expect(denied.statusCode).toBe(403);
    expect(denied.code).toBe('accessDenied');
    expect(remoteUsers[0]?.driveAnomaly).toBe('accessDenied');
    expect((await listPages(client, user.id, 10)).names).toHaveLength(2);
    expect(refusal).toBeInstanceOf(SimError);
    expect(refusal.status).toBe(400);
  });

  describe('drawn from the spec', () => {
    const shares = {
      locked: 0.1,
      accessDenied: 0.1,
      mysiteUrl400: 0.1,
      noSpoLicense400: 0.05,
      unknownError404: 0.05,
    };

    it('draws each answer for about its share of licensed users with a drive, deterministically', async () => {
      const twin = await startSimulatedCloud({ seed: 7 });
      try {
        const spec: TenantSpec = {
          seed: uniqueSeed(),
          users: 2000,
          itemsPerUser: [0, 3],
          driveAnomalies: shares,
        };
        const [info, twinInfo] = [await own.cloud.createTenant(spec), await twin.createTenant(spec)];
        const users = await own.cloud.listUsers(info.tenantId);
        const drives = await own.cloud.drives(info.tenantId);
        const provisioned = users.filter((u) => u.hasDrive || u.driveAnomaly !== undefined);

        expect(twinInfo).toEqual(info);
        expect(await twin.listUsers(info.tenantId)).toEqual(users);
        expect(await twin.drives(info.tenantId)).toEqual(drives);
        for (const [anomaly, share] of Object.entries(shares)) {
          const drawn = provisioned.filter((u) => u.driveAnomaly === anomaly).length / provisioned.length;
          expect(Math.abs(drawn - share)).toBeLessThan(0.04);
        }
        expect(users.filter((u) => !u.licensed).every((u) => u.driveAnomaly === undefined)).toBe(true);
        expect(Object.keys(drives).sort()).toEqual(
          users
            .filter((u) => u.hasDrive)
            .map((u) => u.id)
            .sort(),
        );
        expect(info.licensedWithDrive).toBe(Object.keys(drives).length);
        expect(info.items).toBe(Object.values(drives).reduce((sum, items) => sum + items.length, 0));
      } finally {
        await twin.close();
      }
    });

    it('leaves users, licenses and items as they are without the knob', async () => {
      const seed = uniqueSeed();
      const plain = await own.cloud.createTenant({ seed, users: 300 });
      const withAnswers = await own.cloud.createTenant({
        seed,
        users: 300,
        tenantId: '0badcafe-0000-4000-8000-000000000001',
        domain: `answers${seed}.onmicrosoft.test`,
        driveAnomalies: shares,
      });
      const plainUsers = await own.cloud.listUsers(plain.tenantId);
      const answerUsers = await own.cloud.listUsers(withAnswers.tenantId);
      const plainDrives = await own.cloud.drives(plain.tenantId);
      const answerDrives = await own.cloud.drives(withAnswers.tenantId);

      expect(answerUsers.map((u) => [u.id, u.licensed])).toEqual(plainUsers.map((u) => [u.id, u.licensed]));
      expect(answerUsers.filter((u) => u.driveAnomaly !== undefined).length).toBeGreaterThan(50);
      for (const user of answerUsers) {
        const plainUser = plainUsers.find((u) => u.id === user.id)!;
        expect(plainUser.hasDrive).toBe(user.hasDrive || user.driveAnomaly !== undefined);
        if (user.hasDrive) {
          expect(answerDrives[user.id]!.map((i) => i.name)).toEqual(plainDrives[user.id]!.map((i) => i.name));
        }
      }
    });

    it('refuses shares above 1 in sum or of unknown answers', async () => {
      await expect(
        own.cloud.createTenant({
          seed: uniqueSeed(),
          users: 1,
          driveAnomalies: { locked: 0.6, accessDenied: 0.5 },
        }),
      ).rejects.toThrow(/at most 1/);
      await expect(
        own.cloud.createTenant({
          seed: uniqueSeed(),
          users: 1,
          driveAnomalies: { frozen: 0.1 } as unknown as TenantSpec['driveAnomalies'],
        }),
      ).rejects.toThrow(/Unknown drive anomaly frozen/);
    });
  });

  describe('children paging', () => {
    it('caps pages below $top and still links to every item', async () => {
      const { tenant, client, users } = await tenantWith({ users: 1, itemsPerUser: 11, childrenPageCap: 3 });
      const truth = (await own.cloud.drives(tenant.tenantId))[users[0]!.id]!.map((item) => item.name);

      const listed = await listPages(client, users[0]!.id, 5);

      expect(listed.pages.map((page) => page.length)).toEqual([3, 3, 3, 2]);
      expect(listed.names).toEqual(truth);
    });

    it('repeats exactly the boundary item at the start of each next page', async () => {
      const { tenant, client, users } = await tenantWith({
        users: 1,
        itemsPerUser: 10,
        repeatAtPageBoundary: true,
      });
      const truth = (await own.cloud.drives(tenant.tenantId))[users[0]!.id]!.map((item) => item.name);

      const listed = await listPages(client, users[0]!.id, 4);

      expect(listed.pages).toEqual([truth.slice(0, 4), truth.slice(3, 7), truth.slice(6, 10)]);
      expect(listed.names).toHaveLength(truth.length + listed.pages.length - 1);
      expect([...new Set(listed.names)]).toEqual(truth);
      expect(truth).toHaveLength(10);
    });

    it('ends with a page cap and repeats together, and never repeats on pages of one', async () => {
      const { tenant, client, users } = await tenantWith({
        users: 1,
        itemsPerUser: 7,
        childrenPageCap: 2,
        repeatAtPageBoundary: true,
      });
      const truth = (await own.cloud.drives(tenant.tenantId))[users[0]!.id]!.map((item) => item.name);

      const capped = await listPages(client, users[0]!.id, 1000);
      const single = await listPages(client, users[0]!.id, 1);

      expect(capped.pages).toEqual([
        truth.slice(0, 2),
        truth.slice(1, 3),
        truth.slice(2, 4),
        truth.slice(3, 5),
        truth.slice(4, 6),
        truth.slice(5, 7),
      ]);
      expect(single.names).toEqual(truth);
    });

    it('starts the next page after the boundary item when that item was deleted in between', async () => {
      const { tenant, client, users } = await tenantWith({
        users: 1,
        itemsPerUser: 6,
        repeatAtPageBoundary: true,
      });
      const user = users[0]!;
      const truth = (await own.cloud.drives(tenant.tenantId))[user.id]!;
      const first = (await client
        .api(`/users/${user.id}/drive/root/children`)
        .query({ $top: '3' })
        .get()) as { '@odata.nextLink': string };
      await own.cloud.deleteItem(tenant.tenantId, user.id, truth[2]!.id);

      const second = (await client.api(first['@odata.nextLink']).get()) as {
        '@odata.nextLink'?: string;
        value: Array<{ name: string }>;
      };

      expect(second.value.map((item) => item.name)).toEqual(truth.slice(3, 6).map((item) => item.name));
      expect(second['@odata.nextLink']).toBeUndefined();
    });

    it('refuses a page cap that is not a positive integer', async () => {
      await expect(
        own.cloud.createTenant({ seed: uniqueSeed(), users: 1, childrenPageCap: 0 }),
      ).rejects.toThrow(/childrenPageCap/);
    });
  });

  describe('items', () => {
    it('gives OneNote notebooks a package facet and neither folder nor file', async () => {
      const { tenant, client, users } = await tenantWith({ users: 6, itemsPerUser: 20, packageShare: 0.3 });
      const truth = Object.values(await own.cloud.drives(tenant.tenantId)).flat();
      const listed: Array<{ name: string; package?: { type: string }; folder?: unknown; file?: unknown }> =
        [];
      for (const user of users) {
        const page = (await client.api(`/users/${user.id}/drive/root/children`).get()) as {
          value: typeof listed;
        };
        listed.push(...page.value);
      }
      const notebooks = listed.filter((item) => item.package);

      expect(notebooks.length).toBeGreaterThan(10);
      expect(notebooks.every((item) => item.package?.type === 'oneNote' && !item.folder && !item.file)).toBe(
        true,
      );
      expect(notebooks.every((item) => !/\.[a-z]{3,4}$/.test(item.name))).toBe(true);
      expect(truth.filter((item) => item.package).map((item) => item.name)).toEqual(
        notebooks.map((item) => item.name),
      );
      expect(
        listed.every((item) => [item.package, item.folder, item.file].filter(Boolean).length === 1),
      ).toBe(true);
    });

    it('gives folders no cTag and files their cTag', async () => {
      const { client, users } = await tenantWith({ users: 4, itemsPerUser: 20 });
      const listed: Array<{ cTag?: string; folder?: unknown; file?: unknown }> = [];
      for (const user of users) {
        const page = (await client.api(`/users/${user.id}/drive/root/children`).get()) as {
          value: typeof listed;
        };
        listed.push(...page.value);
      }
      const folders = listed.filter((item) => item.folder);
      const files = listed.filter((item) => item.file);

      expect(folders.length).toBeGreaterThan(0);
      expect(folders.every((item) => item.cTag === undefined)).toBe(true);
      expect(files.every((item) => /^"c:\{[0-9A-F-]+\},\d+"$/.test(item.cTag ?? ''))).toBe(true);
    });

    it('names a share of items with exactly 400 legal characters of mixed scripts', async () => {
      const { tenant, client, users } = await tenantWith({ users: 5, itemsPerUser: 40, longNameShare: 0.4 });
      const drives = await own.cloud.drives(tenant.tenantId);
      const names = Object.values(drives).flatMap((items) => items.map((item) => item.name));
      const long = names.filter((name) => name.length === 400);
      const listed = await listPages(client, users[0]!.id, 1000);

      expect(long.length / names.length).toBeGreaterThan(0.25);
      expect(long.length / names.length).toBeLessThan(0.55);
      expect(names.every((name) => name.length <= 400)).toBe(true);
      for (const name of long) {
        expect(() => assertLegalItemName(name)).not.toThrow();
        expect([...name]).toHaveLength(400);
      }
      expect(long.some((name) => /\p{Script=Han}/u.test(name) && /\p{Script=Latin}/u.test(name))).toBe(true);
      expect(long.some((name) => /[\u0590-\u06ff]/.test(name))).toBe(true);
      for (const items of Object.values(drives)) {
        const lower = items.map((item) => item.name.toLowerCase());
        expect(new Set(lower).size).toBe(lower.length);
      }
      expect(listed.names).toEqual(drives[users[0]!.id]!.map((item) => item.name));
    });

    it('draws long-tailed item counts within [min, max]: most users near min, few near max', async () => {
      const tenant = await own.cloud.createTenant({
        seed: uniqueSeed(),
        users: 1000,
        unlicensedShare: 0,
        withoutDriveShare: 0,
        itemsPerUser: { longTail: [1, 200] },
      });
      const counts = Object.values(await own.cloud.drives(tenant.tenantId))
        .map((items) => items.length)
        .sort((a, b) => a - b);
      const mean = counts.reduce((sum, count) => sum + count, 0) / counts.length;
      const median = counts[Math.floor(counts.length / 2)]!;
      const nearMax = counts.filter((count) => count > 180).length;

      expect(counts).toHaveLength(1000);
      expect(counts[0]).toBeGreaterThanOrEqual(1);
      expect(counts[counts.length - 1]).toBeLessThanOrEqual(200);
      expect(median).toBeLessThan(mean / 2);
      expect(nearMax).toBeGreaterThan(0);
      expect(nearMax).toBeLessThan(counts.length * 0.05);
      expect(tenant.items).toBe(counts.reduce((sum, count) => sum + count, 0));
    });

    it('draws log-normal root sizes: most under 100 items, some past 1,000, none past the cap', async () => {
      const tenant = await own.cloud.createTenant({
        seed: uniqueSeed(),
        users: 2000,
        unlicensedShare: 0,
        withoutDriveShare: 0,
        itemsPerUser: { logNormal: { median: 30, sigma: 1.5, max: 5000 } },
      });
      const counts = Object.values(await own.cloud.drives(tenant.tenantId))
        .map((items) => items.length)
        .sort((a, b) => a - b);
      const median = counts[Math.floor(counts.length / 2)]!;
      const under100 = counts.filter((count) => count < 100).length / counts.length;
      const past1000 = counts.filter((count) => count > 1000).length;

      expect(median).toBeGreaterThanOrEqual(25);
      expect(median).toBeLessThanOrEqual(36);
      expect(under100).toBeGreaterThan(0.7);
      expect(under100).toBeLessThan(0.9);
      expect(past1000).toBeGreaterThan(0);
      expect(counts[counts.length - 1]).toBeLessThanOrEqual(5000);
    });

    it('refuses a long tail whose bounds are not 0 <= min <= max', async () => {
      await expect(
        own.cloud.createTenant({ seed: uniqueSeed(), users: 1, itemsPerUser: { longTail: [5, 2] } }),
      ).rejects.toThrow(/itemsPerUser/);
    });
  });
});
