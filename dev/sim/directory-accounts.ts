import type { SeededTenant } from './seeded-tenant';
import { derivedGuid } from './seeded-random';

/**
 * Directory role template IDs as Entra ID puts them in the `wids` claim (Microsoft Entra built-in roles). A member
 * with no admin role still gets the "User" template.
 */
export const ROLE_TEMPLATES = {
  globalAdministrator: '62e90394-69f5-4237-9190-012177145e10',
  privilegedRoleAdministrator: 'e8611ab8-c189-46e8-94e1-60213ab1f814',
  helpdeskAdministrator: '729827e3-9c14-49f7-bb1b-9608f156bbb8',
  user: 'b79fbf4d-3ef9-4689-8143-76b194e85509',
} as const;

/** Who signed in: the account's tenant, object ID, names and directory roles. */
export interface DirectoryAccount {
  tenant: SeededTenant;
  oid: string;
  username: string;
  name: string;
  wids: string[];
}

/**
 * The people who can sign in to a simulated tenant, by user principal name (dev/sim/README.md, "Sign-in"):
 * `admin@<domain>` is a Global Administrator, `roles-admin@<domain>` a Privileged Role Administrator,
 * `helpdesk@<domain>` a Helpdesk Administrator (an admin who cannot grant application permissions), and every
 * seeded user (`user<n>@<domain>`) a member without admin roles.
 */
export function findAccount(tenantOf: (domain: string) => SeededTenant | undefined, username: string) {
  const match = /^([^@\s]+)@([^@\s]+)$/.exec(username.trim().toLowerCase());
  if (!match?.[1] || !match[2]) return undefined;
  const [, local, domain] = match;
  const tenant = tenantOf(domain);
  if (!tenant || tenant.domain !== domain) return undefined;
  const admins: Record<string, { name: string; role: string }> = {
    admin: { name: 'Global Admin', role: ROLE_TEMPLATES.globalAdministrator },
    'roles-admin': { name: 'Privileged Role Admin', role: ROLE_TEMPLATES.privilegedRoleAdministrator },
    helpdesk: { name: 'Helpdesk Admin', role: ROLE_TEMPLATES.helpdeskAdministrator },
  };
  const admin = admins[local];
  if (admin) {
    return {
      tenant,
      oid: derivedGuid('directory-account', tenant.tenantId, local),
      username: `${local}@${domain}`,
      name: admin.name,
      wids: [admin.role, ROLE_TEMPLATES.user],
    } satisfies DirectoryAccount;
  }
  const index = tenant.findUser(`${local}@${domain}`);
  if (index === undefined) return undefined;
  const user = tenant.user(index);
  return {
    tenant,
    oid: user.id,
    username: user.userPrincipalName,
    name: user.displayName,
    wids: [ROLE_TEMPLATES.user],
  } satisfies DirectoryAccount;
}
