/** Registers the crawl functions with the Functions host (the handlers live in handlers/crawl-handlers.ts). */
import { app } from '@azure/functions';
import { QUEUES } from '../storage/storage-clients';
import { crawlHandlers } from './handlers/crawl-handlers';
import { hostContext } from './runtime';

const handlers = crawlHandlers(hostContext);
app.timer('crawlPlan', { schedule: '%CRAWL_SCHEDULE%', handler: handlers.plan });
app.storageQueue('crawlTenant', {
  queueName: QUEUES.tenantCrawl,
  connection: 'AzureWebJobsStorage',
  handler: handlers.tenant,
});
app.storageQueue('crawlUserBatch', {
  queueName: QUEUES.userBatch,
  connection: 'AzureWebJobsStorage',
  handler: handlers.batch,
});
app.storageQueue('crawlTenantPoison', {
  queueName: `${QUEUES.tenantCrawl}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: handlers.poisonedTenant,
});
app.storageQueue('crawlUserBatchPoison', {
  queueName: `${QUEUES.userBatch}-poison`,
  connection: 'AzureWebJobsStorage',
  handler: handlers.poisonedBatch,
});
