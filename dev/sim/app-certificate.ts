import { X509Certificate, createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A self-signed certificate for an app registration, in the shapes Key Vault and Entra ID deal in. */
export interface AppCertificate {
  /** The public certificate, to upload to the app registration (`addAppCertificate`). */
  certificatePem: string;
  /** The private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`), as Key Vault exports it. */
  privateKeyPem: string;
  /** Private key then certificate: the value of the certificate's secret when its content type is PEM. */
  pem: string;
  /** The same key and certificate as an unprotected PKCS#12, base64: the secret's value for `application/x-pkcs12`. */
  pkcs12Base64: string;
  /** SHA-256 of the DER, lower-case hex (what MSAL sends as `x5t#S256`, base64url-encoded). */
  thumbprintSha256Hex: string;
  notAfter: Date;
}

export interface AppCertificateOptions {
  /** Default `Drive Crawler app`. */
  commonName?: string;
  /** Default an hour ago. */
  notBefore?: Date;
  /** Default a year after `notBefore`. */
  notAfter?: Date;
}

const YEAR_MS = 365 * 86_400_000;

/**
 * Makes a 2048-bit RSA certificate as an operator would create one in Key Vault for an app registration: self
 * signed, for client authentication. Node generates the key (forge's pure-JS generator is much slower); forge
 * signs the certificate and writes the PKCS#12. Validity may lie in the past, for expiry tests.
 */
export function createAppCertificate(options: AppCertificateOptions = {}): AppCertificate {
  const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + YEAR_MS);
  if (!(notAfter.getTime() > notBefore.getTime())) throw new Error('notAfter must be after notBefore');

  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privateKeyPem);

  const certificate = forge.pki.createCertificate();
  certificate.publicKey = forge.pki.publicKeyFromPem(
    publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );
  // Positive, 16 random bytes.
  certificate.serialNumber = `01${randomBytes(16).toString('hex')}`;
  certificate.validity.notBefore = notBefore;
  certificate.validity.notAfter = notAfter;
  const name = [{ name: 'commonName', value: options.commonName ?? 'Drive Crawler app' }];
  certificate.setSubject(name);
  certificate.setIssuer(name);
  certificate.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  certificate.sign(forgeKey, forge.md.sha256.create());

  const certificatePem = forge.pki.certificateToPem(certificate);
  const pkcs12 = forge.pkcs12.toPkcs12Asn1(forgeKey, [certificate], null, { algorithm: '3des' });
  const der = new X509Certificate(certificatePem).raw;
  return {
    certificatePem,
    privateKeyPem,
    pem: `${privateKeyPem.trimEnd()}\n${certificatePem.trimEnd()}\n`,
    pkcs12Base64: Buffer.from(forge.asn1.toDer(pkcs12).getBytes(), 'binary').toString('base64'),
    thumbprintSha256Hex: createHash('sha256').update(der).digest('hex'),
    notAfter,
  };
}
