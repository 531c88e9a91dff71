import { TableClient } from '@azure/data-tables';
import type { RunningAzurite } from '../../dev/azurite';
import { startAzurite } from '../../dev/azurite';
import { TablePacerState } from '../../src/storage/table-pacer-state';

describe('TablePacerState on Azurite', () => {
  let azurite: RunningAzurite;
  let table: TableClient;

  beforeAll(async () => {
    azurite = await startAzurite();
    table = TableClient.fromConnectionString(azurite.connectionString, 'PacerState', {
      allowInsecureConnection: true,
    });
  }, 60_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  it('reads no hold for a tenant it has never seen, creating the table on first use', async () => {
    const state = new TablePacerState(table);
    expect(await state.readHold('11111111-1111-1111-1111-111111111111')).toBe(0);
    // A second state on the same table finds it already there (409 is success).
    expect(await new TablePacerState(table).readHold('11111111-1111-1111-1111-111111111111')).toBe(0);
  });

  it('keeps the latest hold when 20 instances extend it at once', async () => {
    const tenantId = '22222222-2222-2222-2222-222222222222';
    const base = Date.now();
    const holds = Array.from(
      { length: 20 },
      (_, index) => base + 1_000 + ((index * 7_919) % 20) * 137 + Math.random(),
    );
    // One state per writer, as on separate instances.
    await Promise.all(holds.map((until) => new TablePacerState(table).extendHold(tenantId, until)));
    expect(await new TablePacerState(table).readHold(tenantId)).toBe(Math.ceil(Math.max(...holds)));
  });

  it('never moves a hold earlier', async () => {
    const tenantId = '33333333-3333-3333-3333-333333333333';
    const state = new TablePacerState(table);
    await state.extendHold(tenantId, 5_000_000_000_000);
    await state.extendHold(tenantId, 4_000_000_000_000);
    expect(await state.readHold(tenantId)).toBe(5_000_000_000_000);
    await state.extendHold(tenantId, 5_000_000_000_500);
    expect(await state.readHold(tenantId)).toBe(5_000_000_000_500);
  });

  it('counts the instances whose heartbeat has not expired, per tenant, and reads the hold with them', async () => {
    const tenantId = '44444444-4444-4444-4444-444444444444';
    let now = 1_000_000;
    const state = new TablePacerState(table, { now: () => now });
    expect(await state.heartbeat(tenantId, 'a', 1_000)).toEqual({ instances: 1, holdUntil: 0 });
    expect(await state.heartbeat(tenantId, 'b', 1_000)).toEqual({ instances: 2, holdUntil: 0 });
    expect(await state.heartbeat('55555555-5555-5555-5555-555555555555', 'c', 1_000)).toEqual({
      instances: 1,
      holdUntil: 0,
    });
    // A hold row in the same partition is not an instance; the heartbeat reads it as readHold does.
    await state.extendHold(tenantId, 2_000_000);
    expect(await state.heartbeat(tenantId, 'b', 1_000)).toEqual({ instances: 2, holdUntil: 2_000_000 });
    expect(await state.readHold(tenantId)).toBe(2_000_000);

    now += 1_500; // a stopped (its heartbeat expired), b beats again
    expect((await state.heartbeat(tenantId, 'b', 1_000)).instances).toBe(1);
    expect((await state.heartbeat(tenantId, 'c', 1_000)).instances).toBe(2);

    // The expired row was removed on the way.
    const rows: string[] = [];
    for await (const row of table.listEntities({
      queryOptions: { filter: `PartitionKey eq '${tenantId}'` },
    })) {
      rows.push(row.rowKey ?? '');
    }
    expect(rows.sort()).toEqual(['hold', 'instance_b', 'instance_c']);
  });
});
