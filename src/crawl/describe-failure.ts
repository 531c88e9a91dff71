import { DriveCrawlerError } from '../errors';

/**
 * A short reason for a run's `error` column and the logs: the typed code and status of our own errors, the
 * name and status of anything else. Never the raw message of a foreign error, which might carry a URL or value.
 */
export function describeFailure(error: unknown): string {
  if (error instanceof DriveCrawlerError) {
    const status = (error as { status?: unknown }).status;
    const code = (error as DriveCrawlerError<string>).code;
    return typeof status === 'number' && status > 0 ? `${code} (HTTP ${status})` : code;
  }
  if (error instanceof Error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    const code = (error as { code?: unknown }).code;
    return [
      error.name,
      typeof code === 'string' ? code : undefined,
      typeof status === 'number' ? `HTTP ${status}` : undefined,
    ]
      .filter(Boolean)
      .join(' ');
  }
  return 'unknown failure';
}
