import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AppContext } from '../app-context';
import { createAppContext } from '../app-context';
import type { ConfigPurpose } from '../config';
import { loadConfig } from '../config';
import { ensureError } from '../errors';
import type { Logger } from '../logging/logger';
import { createLogger, invocationSink } from '../logging/logger';

/** How a trigger adapter reaches the app's dependencies: the host's lazily built context, or a test's. */
export type ContextProvider = () => AppContext;

const built = new Map<ConfigPurpose, AppContext>();

/**
 * The Functions host's composition root: the configuration is read from the environment on first use (a bad
 * setting fails every invocation with the one message that names all problems, instead of failing the load).
 */
export function hostContext(purpose: ConfigPurpose): ContextProvider {
  return () => {
    let context = built.get(purpose);
    if (!context) {
      context = createAppContext(loadConfig(process.env, purpose));
      built.set(purpose, context);
    }
    return context;
  };
}

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
    });
    return failure();
  }
}
