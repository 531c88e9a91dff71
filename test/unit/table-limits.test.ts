import fc from 'fast-check';
import type { GraphDriveItem } from '../../src/graph/graph-types';
import { indexProperties, prepareRows } from '../../src/crawl/drive-item-store';
import { TABLE_LIMITS, entityBytes, keyProblem, transactionChunks } from '../../src/storage/table-limits';

const TENANT = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const USER = { id: '9a0c0305-e82c-4f89-41d3-3f2504e04f89', upn: 'adele.vance@contoso.onmicrosoft.com' };
const RUN = '1764700000000-abc123';
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const FORBIDDEN_IN_KEYS = /[/\\#?\u0000-\u001f\u007f-\u009f]/;

/** Graph's real-shaped item ID: `01` and 32 base32 characters, derived from a number. */
function graphId(n: number): string {
  let id = '01';
  let x = n * 2654435761 + 97;
  for (let i = 0; i < 32; i += 1) {
    x = (x * 1103515245 + 12345) % 2147483648;
    id += ID_ALPHABET[x % 32];
  }
  return id;
}

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8');

/** A name as OneDrive allows it: up to 400 characters of any script, emoji and marks included. */
const nameArb = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 400 })
  .map((name) => name.slice(0, 400));
/** Mostly real IDs, sometimes an ID with a character keys refuse, sometimes an over-long one. */
const idArb = fc.oneof(
  { weight: 8, arbitrary: fc.nat().map(graphId) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(), fc.constantFrom('/', '\\', '#', '?', '\u0001', '\u007f', '\u0085'))
      .map(([n, c]) => `${graphId(n).slice(0, 20)}${c}${graphId(n).slice(20)}`),
  },
  { weight: 1, arbitrary: fc.string({ minLength: 500, maxLength: 600 }) },
);
const itemArb: fc.Arbitrary<GraphDriveItem> = fc.record({
  id: idArb,
  name: nameArb,
  size: fc.nat(),
  webUrl: nameArb.map(
    (name) => `https://contoso-my.sharepoint.com/personal/adele/Documents/${encodeURIComponent(name)}`,
  ),
  eTag: fc.uuid().map((uuid) => `"{${uuid.toUpperCase()}},3"`),
  lastModifiedDateTime: fc.constant('2026-11-30T10:00:00Z'),
  folder: fc.option(fc.record({ childCount: fc.nat() }), { nil: undefined }),
  file: fc.option(fc.record({ mimeType: fc.constantFrom('application/pdf', 'text/plain') }), {
    nil: undefined,
  }),
});

describe('rows within Table Storage limits', () => {
  it('prepares rows that Table Storage accepts, or names the rule an item breaks, for any IDs and names', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 300 }), (items) => {
        const prepared = prepareRows(TENANT, USER, items, RUN, new Set());
        const broken = items.find((item) => keyProblem('RowKey', item.id) !== undefined);
        if ('problem' in prepared) {
          // Only a real violation is ever reported, and it names the key rule.
          expect(broken).toBeDefined();
          expect(prepared.problem).toMatch(/RowKey/);
          return;
        }
        const firstOf = new Map<string, GraphDriveItem>();
        for (const item of items) if (!firstOf.has(item.id)) firstOf.set(item.id, item);
        expect(broken).toBeUndefined();
        // Each ID once, the first of repeats kept, in order.
        expect(prepared.rows.map((row) => row.rowKey)).toEqual([...firstOf.keys()]);
        for (const row of prepared.rows) {
          const entity = JSON.parse(row.json) as Record<string, string | number | boolean>;
          const { PartitionKey, RowKey, ...properties } = entity;
          expect(FORBIDDEN_IN_KEYS.test(String(RowKey))).toBe(false);
          for (const value of Object.values(properties)) {
            if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(TABLE_LIMITS.stringChars);
          }
          expect(entityBytes(String(PartitionKey), String(RowKey), properties)).toBeLessThanOrEqual(
            TABLE_LIMITS.entityBytes,
          );
          expect(row.bytes).toBeGreaterThanOrEqual(utf8(row.json));
        }
        for (const chunk of transactionChunks(prepared.rows, (row) => row.bytes)) {
          expect(chunk.length).toBeLessThanOrEqual(TABLE_LIMITS.transactionEntities);
          expect(chunk.reduce((sum, row) => sum + utf8(row.json) + 400, 0)).toBeLessThanOrEqual(
            TABLE_LIMITS.transactionBytes,
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a user index within a string property, an entity and its property count, for 0 to 50,000 IDs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer({ min: 1, max: 60 }),
        fc.nat(),
        (count, idLength, salt) => {
          const ids = Array.from({ length: count }, (_, i) =>
            `${graphId(i + salt)}${'x'.repeat(idLength)}`.slice(0, idLength),
          );
          const unique = [...new Set(ids)];
          const index = indexProperties(unique);
          expect(index.count).toBe(unique.length);
          if (index.overflow) {
            // Only a set that really would not fit one entity overflows.
            expect(unique.reduce((sum, id) => sum + 2 * (id.length + 1), 0)).toBeGreaterThan(
              TABLE_LIMITS.entityBytes / 2,
            );
            return;
          }
          const properties: Record<string, string | number | boolean> = {
            userPrincipalName: USER.upn,
            count,
            overflow: false,
            runId: RUN,
          };
          index.chunks.forEach((chunk, i) => {
            expect(chunk.length).toBeLessThanOrEqual(TABLE_LIMITS.stringChars);
            properties[`ids${i}`] = chunk;
          });
          expect(Object.keys(properties).length).toBeLessThanOrEqual(TABLE_LIMITS.properties);
          expect(entityBytes(TENANT, USER.id, properties)).toBeLessThanOrEqual(TABLE_LIMITS.entityBytes);
          // The IDs come back whole from the chunks.
          const back = index.chunks.flatMap((chunk) => (chunk === '' ? [] : chunk.split('\n')));
          expect(back).toEqual(unique);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('splits transactions at 100 rows and before 4 MiB, keeping the order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 400 }), (sizes) => {
        const chunks = [...transactionChunks(sizes, (size) => size)];
        expect(chunks.flat()).toEqual(sizes);
        for (const chunk of chunks) {
          expect(chunk.length).toBeLessThanOrEqual(100);
          if (chunk.length > 1)
            expect(chunk.reduce((a, b) => a + b + 512, 0)).toBeLessThanOrEqual(3.5 * 1024 * 1024);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('names the key rule a value breaks', () => {
    expect(keyProblem('RowKey', graphId(1))).toBeUndefined();
    expect(keyProblem('RowKey', 'a/b')).toMatch(/U\+002F/);
    expect(keyProblem('RowKey', 'a#b')).toMatch(/U\+0023/);
    expect(keyProblem('RowKey', 'a\u0085b')).toMatch(/U\+0085/);
    expect(keyProblem('RowKey', '')).toMatch(/empty/);
    expect(keyProblem('PartitionKey', 'x'.repeat(513))).toMatch(/513 characters/);
  });
});
