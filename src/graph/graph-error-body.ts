/** Reads Graph's error body `{"error":{"code","message"}}`; anything else gives no code. */
export function graphErrorCode(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A header bag over a plain object with any casing (inner `$batch` answers carry their headers that way). */
export function headerBag(headers: Record<string, unknown> | undefined): {
  get(name: string): string | null;
} {
  const lower = new Map<string, string>();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (typeof value === 'string' || typeof value === 'number') lower.set(key.toLowerCase(), String(value));
  }
  return { get: (name) => lower.get(name.toLowerCase()) ?? null };
}

/** Longest Graph error message kept (they are short; a longer one is cut). */
const MESSAGE_CHARS = 500;

/** Reads the `message` of Graph's error body, cut to a sane length; undefined when there is none. */
export function graphErrorMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' ? message.slice(0, MESSAGE_CHARS) : undefined;
}
