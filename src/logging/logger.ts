/**
 * One small logging interface for the whole product. Messages are constant strings; ids and counts travel in
 * `fields`. Nothing that can hold a secret, a token, a state value or a cookie is ever passed in.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Where log lines go; tests capture them, the console writer prints them. */
export type LogSink = (level: 'info' | 'warn' | 'error', message: string, fields: LogFields) => void;

/** A logger over a sink, with fields every line carries (e.g. the run or tenant ID). */
export function createLogger(sink: LogSink, base: LogFields = {}): Logger {
  return {
    info: (message, fields) => sink('info', message, { ...base, ...fields }),
    warn: (message, fields) => sink('warn', message, { ...base, ...fields }),
    error: (message, fields) => sink('error', message, { ...base, ...fields }),
  };
}

/** One JSON line per entry on stderr: what `npm run serve`, `crawl` and the demo use. */
export function consoleSink(minimum: 'info' | 'warn' | 'error' = 'info'): LogSink {
  const order = { info: 0, warn: 1, error: 2 } as const;
  return (level, message, fields) => {
    if (order[level] < order[minimum]) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`,
    );
  };
}

/** The log methods of the Functions host's InvocationContext, kept structural to avoid a hard dependency. */
export interface InvocationLog {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** Writes through the Functions host (Application Insights in Azure). */
export function invocationSink(context: InvocationLog): LogSink {
  return (level, message, fields) => {
    const line = `${message} ${JSON.stringify(fields)}`;
    if (level === 'error') context.error(line);
    else if (level === 'warn') context.warn(line);
    else context.log(line);
  };
}
