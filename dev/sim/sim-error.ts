/**
 * A refused control operation (unknown tenant, duplicate name, invalid spec). `status` is the HTTP status the
 * control API answers with, so `SimClient` can raise the same error from another process.
 */
export class SimError extends Error {
  override readonly name = 'SimError';

  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}
