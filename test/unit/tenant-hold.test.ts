import { READ_WAIT_MS, TenantHold } from '../../src/graph/tenant-hold';

describe('TenantHold, the bodies being read', () => {
  it('has nothing to wait for when no body is being read, or once all have been', () => {
    const hold = new TenantHold();
    expect(hold.whenRead()).toBeUndefined();
    const read = hold.reading();
    expect(hold.whenRead()).toBeInstanceOf(Promise);
    read();
    read();
    expect(hold.whenRead()).toBeUndefined();
  });

  it('settles once the bodies being read when asked are read, not those begun later', async () => {
    const hold = new TenantHold();
    const first = hold.reading();
    const second = hold.reading();
    let settled = false;
    const waited = hold.whenRead()!.then(() => {
      settled = true;
    });
    const later = hold.reading();
    first();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    second();
    await waited;
    expect(settled).toBe(true);
    expect(hold.whenRead()).toBeInstanceOf(Promise);
    later();
  });

  it('waits no longer than READ_WAIT_MS for a body that does not end', async () => {
    jest.useFakeTimers();
    try {
      const hold = new TenantHold();
      hold.reading();
      let settled = false;
      void hold.whenRead()!.then(() => {
        settled = true;
      });
      await jest.advanceTimersByTimeAsync(READ_WAIT_MS - 1);
      expect(settled).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(settled).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('TenantHold, when a hold began', () => {
  it('is when a hold began, not when a hold in force was extended', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const hold = new TenantHold();
      expect(hold.began()).toBe(0);
      hold.extend(1_005_000);
      expect(hold.began()).toBe(1_000_000);
      jest.setSystemTime(1_002_000);
      hold.extend(1_008_000);
      expect(hold.began()).toBe(1_000_000);
      jest.setSystemTime(1_009_000);
      hold.extend(1_012_000);
      expect(hold.began()).toBe(1_009_000);
    } finally {
      jest.useRealTimers();
    }
  });
});
