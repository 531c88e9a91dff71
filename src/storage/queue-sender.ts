import type { QueueClient } from '@azure/storage-queue';
import { ensureQueue } from './storage-clients';

/**
 * Sends text messages to a queue, creating the queue on first use (once per process, again only after a failed
 * creation).
 */
export function queueSender(client: QueueClient): (text: string) => Promise<void> {
  let ready: Promise<void> | undefined;
  return async (text: string): Promise<void> => {
    ready ??= ensureQueue(client).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    await ready;
    await client.sendMessage(text);
  };
}
