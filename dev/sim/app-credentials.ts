import type { KeyObject } from 'node:crypto';
import { X509Certificate, createHash } from 'node:crypto';
import { SimError } from './sim-error';
import type { AppCertificateSpec, FederatedCredentialSpec } from './credential-types';

/** Entra ID allows at most 20 federated identity credentials on one app registration. */
export const MAX_FEDERATED_CREDENTIALS = 20;

/** Entra ID's rule for a federated credential's name: URL-friendly, 3 to 120 characters. */
const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/;
/** Issuer, subject and each audience are limited to 600 characters in Entra ID. */
const MAX_FIELD = 600;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** A certificate on an app registration: what Entra ID keeps of the upload to verify assertions with it. */
export interface AppCertificateRecord {
  thumbprintSha256Hex: string;
  thumbprintSha1Hex: string;
  /** Real ms since epoch. */
  notBefore: number;
  notAfter: number;
  publicKey: KeyObject;
  revoked: boolean;
}

/**
 * Reads an uploaded certificate: thumbprints of its DER (the SHA-1 one is what the portal shows, the SHA-256 one
 * what MSAL sends), validity and public key. An expired certificate is accepted (Entra ID keeps one that expires
 * while registered; tests need one without waiting).
 */
export function certificateRecord(spec: AppCertificateSpec): AppCertificateRecord {
  const pem = typeof spec.certificatePem === 'string' ? PEM_CERTIFICATE.exec(spec.certificatePem) : null;
  if (!pem) throw new SimError(400, 'certificatePem must hold a PEM certificate');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem[0]);
  } catch {
    throw new SimError(400, 'certificatePem is not a readable X.509 certificate');
  }
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    throw new SimError(400, 'The certificate has unreadable validity dates');
  }
  if (certificate.publicKey.asymmetricKeyType !== 'rsa') {
    throw new SimError(400, 'Only RSA certificates can sign client assertions');
  }
  return {
    thumbprintSha256Hex: createHash('sha256').update(certificate.raw).digest('hex'),
    thumbprintSha1Hex: createHash('sha1').update(certificate.raw).digest('hex'),
    notBefore,
    notAfter,
    publicKey: certificate.publicKey,
    revoked: false,
  };
}

function assertField(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_FIELD) {
    throw new SimError(400, `${field} must be a string of 1 to ${MAX_FIELD} characters`);
  }
}

/**
 * Checks a federated credential as Entra ID does on creation, against the app's others: a valid unique name, an
 * issuer URL, a subject, at least one audience, no other credential with the same issuer and subject, and at most
 * 20 in all. Returns a copy to keep.
 */
export function checkedFederatedCredential(
  spec: FederatedCredentialSpec,
  existing: readonly FederatedCredentialSpec[],
): FederatedCredentialSpec {
  if (typeof spec.name !== 'string' || !CREDENTIAL_NAME.test(spec.name)) {
    throw new SimError(400, 'name must be 3 to 120 letters, digits, - or _, starting with a letter or digit');
  }
  assertField(spec.issuer, 'issuer');
  if (!URL.canParse(spec.issuer)) throw new SimError(400, `issuer is not a URL: ${spec.issuer}`);
  assertField(spec.subject, 'subject');
  if (!Array.isArray(spec.audiences) || spec.audiences.length === 0) {
    throw new SimError(400, 'audiences must hold at least one audience');
  }
  spec.audiences.forEach((audience, index) => assertField(audience, `audiences[${index}]`));
  if (existing.some((credential) => credential.name === spec.name)) {
    throw new SimError(409, `A federated credential named ${spec.name} already exists`);
  }
  if (existing.some((other) => other.issuer === spec.issuer && other.subject === spec.subject)) {
    throw new SimError(409, 'A federated credential with the same issuer and subject already exists');
  }
  if (existing.length >= MAX_FEDERATED_CREDENTIALS) {
    throw new SimError(400, `An app has at most ${MAX_FEDERATED_CREDENTIALS} federated credentials`);
  }
  return { name: spec.name, issuer: spec.issuer, subject: spec.subject, audiences: [...spec.audiences] };
}
