import { z } from 'zod';
import type { Logger } from '../logging/logger';
import type { InvitationStore } from './invitation-store';
import { DEFAULT_INVITATION_HOURS, MAX_INVITATION_HOURS } from './invitation-store';
import { GUID } from '../guid';

const MAX_BODY_CHARS = 4096;

const requestSchema = z
  .object({
    tenant: z
      .string()
      .regex(GUID, 'tenant must be a tenant ID (GUID)')
      .transform((value) => value.toLowerCase())
      .optional(),
    expiresInHours: z
      .number({ error: 'expiresInHours must be a number' })
      .int('expiresInHours must be a whole number')
      .min(1, 'expiresInHours must be at least 1')
      .max(MAX_INVITATION_HOURS, `expiresInHours must be at most ${MAX_INVITATION_HOURS} (30 days)`)
      .default(DEFAULT_INVITATION_HOURS),
    label: z
      .string()
      .trim()
      .regex(/^[\p{L}\p{N} .,&'()_-]{1,100}$/u, "label must be 1-100 letters, digits, spaces or .,&'()_-")
      .optional(),
  })
  .strict();

export interface CreateInvitationDeps {
  invitations: InvitationStore;
  /** The consent callback URL; the invitation link goes to the landing page beside it. */
  redirectUri: string;
  homeTenantId: string;
  logger: Logger;
}

export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Where an invitation's link points: the landing page (`/api/consent`) of the deployment that calls back. */
export function invitationLink(redirectUri: string, token: string): string {
  const url = new URL(redirectUri);
  url.pathname = url.pathname.replace(/\/callback$/, '');
  url.search = '';
  url.searchParams.set('invitation', token);
  return url.toString();
}

/**
 * `POST /api/invitations` (function key): a single-use invitation to onboard, optionally for one tenant, with its
 * link. The link carries the only copy of the token; the table keeps a hash.
 */
export async function createInvitation(rawBody: string, deps: CreateInvitationDeps): Promise<JsonAnswer> {
  const invalid = (message: string): JsonAnswer => ({
    status: 400,
    body: { error: 'invalid_request', message },
  });
  if (rawBody.length > MAX_BODY_CHARS)
    return invalid(`The body must be at most ${MAX_BODY_CHARS} characters`);
  let json: unknown = {};
  if (rawBody.trim() !== '') {
    try {
      json = JSON.parse(rawBody);
    } catch {
      return invalid(
        'The body must be JSON: {"tenant"?: "<tenant ID>", "expiresInHours"?: 168, "label"?: "..."}',
      );
    }
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) return invalid(parsed.error.issues.map((issue) => issue.message).join('; '));
  const { tenant, expiresInHours, label } = parsed.data;
  if (tenant === deps.homeTenantId)
    return invalid("tenant is the ISV's own tenant (HOME_TENANT_ID), which is never onboarded");
  const { token, invitation } = await deps.invitations.create({
    hours: expiresInHours,
    ...(tenant ? { expectedTenantId: tenant } : {}),
    ...(label ? { label } : {}),
  });
  deps.logger.info('invitation created', { invitationId: invitation.id, forTenant: tenant ?? 'any' });
  return {
    status: 201,
    body: {
      id: invitation.id,
      link: invitationLink(deps.redirectUri, token),
      expiresAt: invitation.expiresAt.toISOString(),
      ...(tenant ? { tenantId: tenant } : {}),
      ...(label ? { label } : {}),
    },
  };
}
