import { encodeMessage, parseMessage, tenantCrawlMessage, userBatchMessage } from '../../src/crawl/messages';
import { newRunId } from '../../src/crawl/run-id';

const tenantId = '0f5c5b6e-2b3a-4c5d-8e9f-0a1b2c3d4e5f';

describe('queue messages', () => {
  it('round-trips through base64 as the Functions host decodes it', () => {
    const message = { kind: 'tenant' as const, tenantId, runId: newRunId(new Date()) };
    const wire = encodeMessage(message);
    expect(wire).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const hostDecoded = JSON.parse(Buffer.from(wire, 'base64').toString('utf8')) as unknown;
    expect(parseMessage(tenantCrawlMessage, hostDecoded)).toEqual(message);
    expect(parseMessage(tenantCrawlMessage, wire)).toEqual(message);
  });

  it('refuses a batch without users or with a bad tenant ID', () => {
    const runId = newRunId(new Date());
    expect(() =>
      parseMessage(userBatchMessage, {
        kind: 'batch',
        tenantId,
        runId,
        batch: 0,
        licensedUsers: 1,
        users: [],
      }),
    ).toThrow();
    expect(() =>
      parseMessage(userBatchMessage, {
        kind: 'batch',
        tenantId: 'nope',
        runId,
        batch: 0,
        licensedUsers: 1,
        users: [{ id: 'u', upn: 'u@x' }],
      }),
    ).toThrow();
  });
});

describe('run IDs', () => {
  it('sort newest first', () => {
    const older = newRunId(new Date('2026-01-01T00:00:00Z'));
    const newer = newRunId(new Date('2026-01-01T00:00:01Z'));
    expect([older, newer].sort()).toEqual([newer, older]);
    expect(newer).toMatch(/^\d{13}-[a-z0-9]{6}$/);
  });
});
