import type { SimulatedCloud } from '../../dev/sim/simulated-cloud';
import { startSimulatedCloud } from '../../dev/sim/simulated-cloud';
import { createRandom, distinctGuid, hashSeed, randomGuid } from '../../dev/sim/seeded-random';
import type { TenantSpec } from '../../dev/sim/types';
import { uniqueSeed } from './sim-sdk';

describe('seeded tenants', () => {
  let cloud: SimulatedCloud;
  let twin: SimulatedCloud;

  beforeAll(async () => {
    [cloud, twin] = await Promise.all([startSimulatedCloud(), startSimulatedCloud({ seed: 99 })]);
  });
  afterAll(() => Promise.all([cloud.close(), twin.close()]));

  it('yields the same tenant, users and items for the same spec', async () => {
    const spec: TenantSpec = { seed: uniqueSeed(), users: 30 };

    const [a, b] = await Promise.all([cloud.createTenant(spec), twin.createTenant(spec)]);

    expect(a).toEqual(b);
    expect(await cloud.listUsers(a.tenantId)).toEqual(await twin.listUsers(b.tenantId));
    expect(await cloud.drives(a.tenantId)).toEqual(await twin.drives(b.tenantId));
  });

  it('gives every user of a tenant an ID of its own, even two users whose streams share a seed', async () => {
    // Seed 4's users 43,313 and 89,083 hash to the same 32-bit stream seed, so their drawn GUIDs are equal.
    const drawn = (index: number): string => randomGuid(createRandom(hashSeed(4, 'user-id', index)));
    expect(drawn(43_313)).toBe(drawn(89_083));
    expect(distinctGuid(drawn(43_313), 43_313)).not.toBe(distinctGuid(drawn(89_083), 89_083));

    const tenant = await cloud.createTenant({ seed: 4, users: 89_084 });
    const users = await cloud.listUsers(tenant.tenantId);
    const ids = users.map((user) => user.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(
      ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
    ).toBe(true);
  }, 60_000);

  it('yields different tenants for different seeds', async () => {
    const a = await cloud.createTenant({ seed: uniqueSeed(), users: 5 });
    const b = await cloud.createTenant({ seed: uniqueSeed(), users: 5 });

    expect(a.tenantId).not.toBe(b.tenantId);
    expect((await cloud.listUsers(a.tenantId))[0]?.id).not.toBe((await cloud.listUsers(b.tenantId))[0]?.id);
  });

  it('names users user<n>@<domain> and honours a given tenant ID and domain', async () => {
    const tenant = await cloud.createTenant({
      seed: uniqueSeed(),
      users: 3,
      tenantId: 'AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE',
      domain: 'contoso.onmicrosoft.test',
    });

    const users = await cloud.listUsers(tenant.tenantId);

    expect(tenant.tenantId).toBe('aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
    expect(users.map((user) => user.userPrincipalName)).toEqual([
      'user1@contoso.onmicrosoft.test',
      'user2@contoso.onmicrosoft.test',
      'user3@contoso.onmicrosoft.test',
    ]);
  });

  it('includes awkward names, unlicensed users and licensed users without a drive', async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 200 });

    const users = await cloud.listUsers(tenant.tenantId);
    const names = Object.values(await cloud.drives(tenant.tenantId)).flatMap((items) =>
      items.map((item) => item.name),
    );

    expect(users.some((user) => !user.licensed)).toBe(true);
    expect(users.some((user) => user.licensed && !user.hasDrive)).toBe(true);
    expect(names.some((name) => /\p{Extended_Pictographic}/u.test(name))).toBe(true);
    expect(names.some((name) => /[\u0590-\u05ff\u0600-\u06ff]/.test(name))).toBe(true);
    expect(names.some((name) => /\p{M}/u.test(name))).toBe(true);
    expect(names.some((name) => /[#%&]/.test(name))).toBe(true);
    expect(names.some((name) => name.includes("'"))).toBe(true);
    expect(names.some((name) => name.length > 200)).toBe(true);
    expect(names.every((name) => name === name.trim() && !/["*:<>?/\\|]/.test(name))).toBe(true);
  });

  it('reports counts that agree with users and drives', async () => {
    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 100, itemsPerUser: [2, 4] });

    const users = await cloud.listUsers(tenant.tenantId);
    const drives = await cloud.drives(tenant.tenantId);

    expect(tenant.users).toBe(users.length);
    expect(tenant.licensedUsers).toBe(users.filter((user) => user.licensed).length);
    expect(tenant.licensedWithDrive).toBe(Object.keys(drives).length);
    expect(tenant.items).toBe(Object.values(drives).reduce((sum, items) => sum + items.length, 0));
  });

  it('follows license changes, deleted users and item changes in its counts and drives', async () => {
    const tenant = await cloud.createTenant({
      seed: uniqueSeed(),
      users: 10,
      unlicensedShare: 0,
      withoutDriveShare: 0,
      itemsPerUser: 3,
    });
    const [first, second] = await cloud.listUsers(tenant.tenantId);
    await cloud.setLicensed(tenant.tenantId, first!.id, false);
    await cloud.deleteUser(tenant.tenantId, second!.userPrincipalName);

    const info = cloud.tenantInfoSync(tenant.tenantId);
    const drives = await cloud.drives(tenant.tenantId);

    expect(info).toMatchObject({ users: 9, licensedUsers: 8, licensedWithDrive: 8, items: 24 });
    expect(Object.keys(drives)).not.toContain(first!.id);
    expect(Object.keys(drives)).not.toContain(second!.id);
  });

  it('makes a 50,000-user tenant in well under 2 seconds', async () => {
    const started = Date.now();

    const tenant = await cloud.createTenant({ seed: uniqueSeed(), users: 50_000, itemsPerUser: 10 });

    expect(Date.now() - started).toBeLessThan(1000);
    expect(tenant.items).toBe(tenant.licensedWithDrive * 10);
  });

  it('refuses a second tenant with the same ID', async () => {
    const spec: TenantSpec = { seed: uniqueSeed(), users: 1 };
    await cloud.createTenant(spec);

    await expect(cloud.createTenant(spec)).rejects.toThrow(/already exists/);
  });
});
