import { z } from 'zod';
import { LOWERCASE_GUID } from '../guid';

/**
 * Queue messages between the planner and the workers. They are JSON, base64-encoded on the wire because the
 * Functions host decodes base64 by default (host.json `extensions.queues.messageEncoding`).
 */

const guid = z.string().regex(LOWERCASE_GUID);
const runId = z.string().regex(/^\d{13}-[a-z0-9]{6}$/);

export const tenantCrawlMessage = z.object({
  kind: z.literal('tenant'),
  tenantId: guid,
  runId,
});

export const userBatchMessage = z.object({
  kind: z.literal('batch'),
  tenantId: guid,
  runId,
  /** Batch number within the run, from 0; a retried listing re-sends the same numbers. */
  batch: z.number().int().min(0),
  /** 0 for the batch as planned; n for the n-th continuation of its remaining users (docs/throttling.md). */
  part: z.number().int().min(0).max(100_000).optional(),
  /** Licensed users in the tenant, for the pacer's starting tier. */
  licensedUsers: z.number().int().min(0),
  users: z
    .array(
      z.object({
        id: z.string().min(1).max(64),
        upn: z.string().max(1024),
        /**
         * Whether the user had a delta cursor when the listing planned the batch: `false` spares the batch a read
         * of a cursor that is not there (most users of a tenant have no OneDrive); absent, the batch reads it.
         */
        cursor: z.boolean().optional(),
      }),
    )
    .min(1)
    .max(500),
});

export type TenantCrawlMessage = z.infer<typeof tenantCrawlMessage>;
export type UserBatchMessage = z.infer<typeof userBatchMessage>;

/** Base64 of the JSON, as the host expects with its default `messageEncoding`. */
export function encodeMessage(message: TenantCrawlMessage | UserBatchMessage): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}

/**
 * Parses a message as the queue trigger hands it over: the host has already decoded base64 and, for JSON,
 * parsed it into an object; local hosts may hand over the raw string.
 */
export function parseMessage<T>(schema: z.ZodType<T>, raw: unknown): T {
  let value = raw;
  if (typeof value === 'string') {
    const text = /^[A-Za-z0-9+/]+=*$/.test(value) ? Buffer.from(value, 'base64').toString('utf8') : value;
    value = JSON.parse(text) as unknown;
  }
  return schema.parse(value);
}
