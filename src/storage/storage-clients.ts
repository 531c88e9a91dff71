import { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { QueueClient } from '@azure/storage-queue';
import type { StorageSettings } from '../config';

/** Table names of the contract (Tenants, DriveItems, CrawlRuns) and the product's own bookkeeping tables. */
export const TABLES = {
  tenants: 'Tenants',
  driveItems: 'DriveItems',
  crawlRuns: 'CrawlRuns',
  consentStates: 'ConsentStates',
  invitations: 'Invitations',
  pacerState: 'PacerState',
  runProgress: 'CrawlProgress',
  userIndex: 'CrawlUserIndex',
  crawlSkips: 'CrawlSkips',
  driveCursors: 'DriveCursors',
} as const;

/** Queues between the timer and the workers (see host.json for dequeue and poison rules). */
export const QUEUES = {
  tenantCrawl: 'crawl-tenant',
  userBatch: 'crawl-user-batch',
} as const;

function isLoopbackHttp(url: string): boolean {
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
}

function endpointsOf(connectionString: string): { table?: string; queue?: string } {
  const parts = new Map(
    connectionString
      .split(';')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const at = part.indexOf('=');
        return [part.slice(0, at).toLowerCase(), part.slice(at + 1)] as const;
      }),
  );
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return {
      table: 'http://127.0.0.1:10002/devstoreaccount1',
      queue: 'http://127.0.0.1:10001/devstoreaccount1',
    };
  }
  return { table: parts.get('tableendpoint'), queue: parts.get('queueendpoint') };
}

/** Makes table and queue clients from the `AzureWebJobsStorage` settings, as the Functions host reads them. */
export class StorageClients {
  readonly #settings: StorageSettings;
  readonly #credential: TokenCredential | undefined;

  /** `credential` is the app's own identity, used for identity-based storage. */
  constructor(settings: StorageSettings, credential?: TokenCredential) {
    this.#settings = settings;
    this.#credential = credential;
  }

  table(name: string): TableClient {
    const settings = this.#settings;
    if (settings.kind === 'connectionString') {
      const connectionString = settings.connectionString.reveal();
      const endpoint = endpointsOf(connectionString).table;
      return TableClient.fromConnectionString(connectionString, name, {
        allowInsecureConnection: endpoint !== undefined && isLoopbackHttp(endpoint),
      });
    }
    return new TableClient(settings.tableServiceUri, name, this.#requireCredential());
  }

  queue(name: string): QueueClient {
    const settings = this.#settings;
    if (settings.kind === 'connectionString') {
      return new QueueClient(settings.connectionString.reveal(), name);
    }
    return new QueueClient(
      `${settings.queueServiceUri.replace(/\/$/, '')}/${name}`,
      this.#requireCredential(),
    );
  }

  #requireCredential(): TokenCredential {
    if (!this.#credential) throw new Error('Identity-based storage needs the app credential');
    return this.#credential;
  }
}

/** Creates a table, treating "already exists" as success (by status, never by message). */
export async function ensureTable(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 409) throw error;
  }
}

/**
 * A function that creates the table on its first call and reuses that promise after (a failed creation is tried
 * again on the next call): stores call it before their first operation.
 */
export function tableCreatedOnce(client: TableClient): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= ensureTable(client).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
}

/** Creates a queue if it is missing. */
export async function ensureQueue(client: QueueClient): Promise<void> {
  await client.createIfNotExists();
}

/** True when a storage call failed because the entity was not there. */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

/** True when an ETag condition or an insert of an existing key failed. */
export function isConflict(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 409 || status === 412;
}
