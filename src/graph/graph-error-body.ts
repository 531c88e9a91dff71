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
