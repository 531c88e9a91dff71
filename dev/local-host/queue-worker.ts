import { InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The queue settings of host.json that the local host honours, as the Functions host would. */
export interface QueueRules {
  maxDequeueCount: number;
  batchSize: number;
  newBatchThreshold: number;
  /** Seconds before a failed message becomes visible again. */
  visibilityTimeoutS: number;
  maxPollingIntervalMs: number;
  messageEncoding: 'base64' | 'none';
}

function seconds(timespan: string | undefined, fallback: number): number {
  const match = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(timespan ?? '');
  if (!match) return fallback;
  return Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]);
}

/** Reads `extensions.queues` of host.json (defaults as the host's). */
export function readQueueRules(hostJsonPath = path.resolve(__dirname, '..', '..', 'host.json')): QueueRules {
  const host = JSON.parse(readFileSync(hostJsonPath, 'utf8')) as {
    extensions?: { queues?: Record<string, unknown> };
  };
  const queues = host.extensions?.queues ?? {};
  return {
    maxDequeueCount: typeof queues.maxDequeueCount === 'number' ? queues.maxDequeueCount : 5,
    batchSize: typeof queues.batchSize === 'number' ? queues.batchSize : 16,
    newBatchThreshold: typeof queues.newBatchThreshold === 'number' ? queues.newBatchThreshold : 8,
    visibilityTimeoutS: seconds(queues.visibilityTimeout as string | undefined, 0),
    maxPollingIntervalMs: seconds(queues.maxPollingInterval as string | undefined, 60) * 1000,
    messageEncoding: queues.messageEncoding === 'none' ? 'none' : 'base64',
  };
}

export type QueueHandler = (message: unknown, context: InvocationContext) => Promise<void>;

/** Decodes a message body as the host does: base64 (by default), then JSON when it parses. */
export function decodeQueueBody(text: string, encoding: QueueRules['messageEncoding']): unknown {
  const decoded = encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text;
  try {
    return JSON.parse(decoded) as unknown;
  } catch {
    return decoded;
  }
}

/**
 * One delivery round of a queue, with the host's rules: up to `batchSize` messages, each handed to the handler;
 * success deletes it, failure leaves it for `visibilityTimeout`, and a message that failed `maxDequeueCount`
 * times moves to `<queue>-poison`. Returns how many messages it handled.
 */
export async function deliverOnce(
  queue: QueueClient,
  poison: QueueClient,
  handler: QueueHandler,
  rules: QueueRules,
  functionName: string,
  log: (level: 'info' | 'warn' | 'error', text: string) => void = () => undefined,
): Promise<number> {
  const received = await queue.receiveMessages({
    numberOfMessages: rules.batchSize,
    // Long enough for the work; a crash leaves the message to reappear after it.
    visibilityTimeout: 600,
  });
  await Promise.all(
    received.receivedMessageItems.map(async (item) => {
      if (item.dequeueCount > rules.maxDequeueCount) {
        await poison.createIfNotExists();
        await poison.sendMessage(item.messageText);
        await queue.deleteMessage(item.messageId, item.popReceipt);
        return;
      }
      const context = new InvocationContext({
        functionName,
        triggerMetadata: { dequeueCount: item.dequeueCount, id: item.messageId },
        logHandler: (level, ...args) => {
          const mapped =
            level === 'error' || level === 'critical' ? 'error' : level === 'warning' ? 'warn' : 'info';
          log(mapped, args.map(String).join(' '));
        },
      });
      try {
        await handler(decodeQueueBody(item.messageText, rules.messageEncoding), context);
        await queue.deleteMessage(item.messageId, item.popReceipt);
      } catch {
        if (item.dequeueCount >= rules.maxDequeueCount) {
          await poison.createIfNotExists();
          await poison.sendMessage(item.messageText);
          await queue.deleteMessage(item.messageId, item.popReceipt);
        } else {
          await queue.updateMessage(item.messageId, item.popReceipt, undefined, rules.visibilityTimeoutS);
        }
      }
    }),
  );
  return received.receivedMessageItems.length;
}
