import { aadstsOf, classifyTokenFailure, credentialRefusalReason } from '../../src/identity/token-errors';

const entraError = (code: number) =>
  Object.assign(
    new Error(`ClientSecretCredential authentication failed: AADSTS${code}: something happened.`),
    {
      name: 'AuthenticationError',
    },
  );

describe('token failure classification', () => {
  it.each([
    [700016, 'tenant_revoked'],
    [7000229, 'tenant_revoked'],
    [65001, 'tenant_revoked'],
    [7000112, 'tenant_revoked'],
    [7000215, 'app_credential_rejected'],
    [7000222, 'app_credential_rejected'],
    [700027, 'app_credential_rejected'],
    [700024, 'app_credential_rejected'],
    [7000214, 'app_credential_rejected'],
    [70021, 'app_credential_rejected'],
    [700211, 'app_credential_rejected'],
    [700212, 'app_credential_rejected'],
    [700213, 'app_credential_rejected'],
    [53003, 'tenant_error'],
    [90002, 'tenant_error'],
    [50033, 'transient'],
    [90006, 'transient'],
    [90024, 'transient'],
    [90033, 'transient'],
    [90055, 'transient'],
  ])('maps AADSTS%i to %s', (code, expected) => {
    expect(classifyTokenFailure(entraError(code))).toEqual({ code: expected, aadsts: code });
  });

  it("says in plain words why the app's credential was refused", () => {
    expect(credentialRefusalReason(7000222)).toBe('the client secret has expired');
    expect(credentialRefusalReason(700027)).toMatch(/certificate is not registered .* or has expired/);
    expect(credentialRefusalReason(700213)).toMatch(/subject is not the managed identity's principal ID/);
    expect(credentialRefusalReason(undefined)).toBe("Entra ID refused the app's credential");
  });

  it('reads the AADSTS number from the cause when the message has none', () => {
    const error = new Error('authentication failed', {
      cause: new Error('AADSTS7000215: Invalid client secret'),
    });
    expect(aadstsOf(error)).toBe(7000215);
  });

  it('treats an unresolvable authority (an unknown tenant) as the tenant side', () => {
    const error = Object.assign(new Error('endpoints_resolution_error: could not resolve endpoints'), {
      name: 'CredentialUnavailableError',
    });
    expect(classifyTokenFailure(error)).toEqual({ code: 'tenant_error', aadsts: undefined });
  });

  it('treats a network failure without an AADSTS code as transient', () => {
    expect(classifyTokenFailure(new Error('socket hang up'))).toEqual({
      code: 'transient',
      aadsts: undefined,
    });
  });
});
