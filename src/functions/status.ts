/**
 * Registers the operator's status page and its actions with the Functions host (the handlers live in
 * handlers/status-handlers.ts). All three need the function key: the page carries it into its forms' action URLs.
 */
import { app } from '@azure/functions';
import { statusHandlers } from './handlers/status-handlers';
import { hostContext } from './runtime';

const handlers = statusHandlers(hostContext);
app.http('statusPage', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'status',
  handler: handlers.page,
});
app.http('statusCrawl', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'status/tenants/{tenantId}/crawl',
  handler: handlers.crawl,
});
app.http('statusPermissions', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'status/tenants/{tenantId}/permissions',
  handler: handlers.permissions,
});
