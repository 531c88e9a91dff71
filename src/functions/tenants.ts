/** Registers the tenants functions with the Functions host (the handlers live in handlers/tenant-handlers.ts). */
import { app } from '@azure/functions';
import { tenantHandlers } from './handlers/tenant-handlers';
import { hostContext } from './runtime';

const handlers = tenantHandlers(hostContext);
app.http('tenantsList', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'tenants',
  handler: handlers.list,
});
app.http('tenantOffboard', {
  methods: ['DELETE'],
  authLevel: 'function',
  route: 'tenants/{tenantId}',
  handler: handlers.offboard,
});
app.http('tenantCrawl', {
  methods: ['POST'],
  authLevel: 'function',
  route: 'tenants/{tenantId}/crawl',
  handler: handlers.crawl,
});
