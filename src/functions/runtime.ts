import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { app } from '@azure/functions';
import type { AppContext } from '../app-context';
import { createAppContext } from '../app-context';
import { loadConfig } from '../config';
import { ConfigError, ensureError } from '../errors';
import type { Logger } from '../logging/logger';
import { createLogger, invocationSink } from '../logging/logger';

/** How a trigger adapter reaches the app's dependencies: the host's lazily built context, or a test's. */
export type ContextProvider = () => AppContext;

let built: AppContext | undefined;

/**
 * The Functions host's one context: built from the environment on first use, and shared by every function of the
 * process, so that a tenant has one credential cache and one pacer per process. A bad setting fails every
 * invocation with the one message that names all problems, instead of failing the load; the consent routes
 * check their own settings when they start (`consentSettings`), so a host that only crawls runs without them.
 */
export const hostContext: ContextProvider = () => (built ??= createAppContext(loadConfig(process.env)));

/**
 * Metrics recorded in the last export interval go out before the worker stops (docs/telemetry.md): the host ends a
 * Flex Consumption instance without `beforeExit`, so the exporter is flushed from the host's terminate hook.
 */
app.hook.appTerminate(async () => {
  await built?.telemetry.shutdown();
});

/** A logger that writes through the invocation (Application Insights in Azure). */
export function invocationLogger(context: InvocationContext): Logger {
  return createLogger(invocationSink(context), { invocationId: context.invocationId });
}

/**
 * Wraps an HTTP adapter: an unexpected error is logged once with its name only (never its message, which might
 * carry a value from outside) and answered as a bare 500 that says nothing more.
 */
export async function answerSafely(
  context: InvocationContext,
  route: string,
  handle: () => Promise<HttpResponseInit>,
  failure: () => HttpResponseInit,
): Promise<HttpResponseInit> {
  try {
    return await handle();
  } catch (error) {
    const normalised = ensureError(error);
    invocationLogger(context).error('request failed', {
      route,
      error: normalised.name,
      code: (normalised as { code?: unknown }).code as string | undefined,
      // A setting missing or wrong: its name, so the operator knows what to fix (never a value).
      ...(normalised instanceof ConfigError ? { problems: normalised.problems.join('; ') } : {}),
    });
    return failure();
  }
}
