import { RESOURCE_BUCKETS, RESOURCE_UNITS as SIMULATOR_UNITS } from '../../dev/sim/resource-costs';
import { RESOURCE_UNITS } from '../../src/graph/resource-costs';

/** Each of the product's prices, and the simulator's name for the same call. */
const SAME_CALL = {
  driveItem: 'drive',
  driveListing: 'children',
  deltaWithToken: 'deltaWithToken',
  deltaWithoutToken: 'deltaWithoutToken',
  directoryPage: 'directory',
} as const satisfies Record<keyof typeof RESOURCE_UNITS, keyof typeof SIMULATOR_UNITS>;

describe('resource units', () => {
  it('are priced the same by the product (its pacer) and the simulator (its budgets)', () => {
    for (const [call, simulatorCall] of Object.entries(SAME_CALL)) {
      expect([call, RESOURCE_UNITS[call as keyof typeof SAME_CALL]]).toEqual([
        call,
        SIMULATOR_UNITS[simulatorCall],
      ]);
    }
    // Every call the simulator prices is priced by the product too.
    expect(Object.values(SAME_CALL).sort()).toEqual(Object.keys(SIMULATOR_UNITS).sort());
  });

  it('charge the users listing to the directory and everything else to the drive budget', () => {
    expect(RESOURCE_BUCKETS[SAME_CALL.directoryPage]).toBe('directory');
    for (const call of ['driveItem', 'driveListing', 'deltaWithToken', 'deltaWithoutToken'] as const) {
      expect(RESOURCE_BUCKETS[SAME_CALL[call]]).toBe('drive');
    }
  });
});
