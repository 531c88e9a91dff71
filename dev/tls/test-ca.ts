import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';

/** Where the test CA, the simulator's certificate and the combined trust bundle live (git-ignored). */
export const TEST_TLS_DIR = path.resolve(__dirname, '..', '..', '.sim', 'tls');

export interface TestTls {
  /** PEM of the CA that signed the server certificate. */
  caCertPem: string;
  /** Server certificate (for 127.0.0.1, ::1 and localhost) and its key, for `https.createServer`. */
  certPem: string;
  keyPem: string;
  /** File with the machine's CA bundle plus the test CA: the value for `NODE_EXTRA_CA_CERTS`. */
  bundlePath: string;
}

const VALID_DAYS = 825;
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

function newKeyPair(): {
  publicKey: forge.pki.PublicKey;
  privateKey: forge.pki.PrivateKey;
  privatePem: string;
} {
  // Node's generator is much faster than forge's pure-JS one; forge only signs.
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    privateKey: forge.pki.privateKeyFromPem(privatePem),
    privatePem,
  };
}

function serialNumber(): string {
  // Positive, 16 random bytes.
  return '01' + randomBytes(16).toString('hex');
}

function makeCertificates(): { caCertPem: string; certPem: string; keyPem: string } {
  const now = new Date();
  const notAfter = new Date(now.getTime() + VALID_DAYS * 24 * 3600 * 1000);
  const notBefore = new Date(now.getTime() - 3600 * 1000);

  const ca = newKeyPair();
  const caCert = forge.pki.createCertificate();
  caCert.publicKey = ca.publicKey;
  caCert.serialNumber = serialNumber();
  caCert.validity.notBefore = notBefore;
  caCert.validity.notAfter = notAfter;
  const caName = [{ name: 'commonName', value: 'Drive Crawler test CA (loopback only)' }];
  caCert.setSubject(caName);
  caCert.setIssuer(caName);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());

  const server = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = server.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: '127.0.0.1' }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
        { type: 2, value: 'localhost' },
      ],
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.privateKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());

  return {
    caCertPem: forge.pki.certificateToPem(caCert),
    certPem: forge.pki.certificateToPem(cert),
    keyPem: server.privatePem,
  };
}

function isFresh(certPem: string): boolean {
  try {
    const cert = forge.pki.certificateFromPem(certPem);
    return cert.validity.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

function systemBundle(): string {
  // Keep whatever the machine already trusts: NODE_EXTRA_CA_CERTS replaces nothing, but one file is all it takes.
  for (const candidate of ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt']) {
    if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
  }
  return '';
}

/**
 * Returns the test TLS material, making it on first use (or when it is about to expire) under `.sim/tls`.
 * The CA signs only a loopback certificate and its key never leaves this folder.
 */
export function ensureTestTls(dir: string = TEST_TLS_DIR): TestTls {
  const caPath = path.join(dir, 'ca.pem');
  const certPath = path.join(dir, 'server.pem');
  const keyPath = path.join(dir, 'server-key.pem');
  const bundlePath = path.join(dir, 'ca-bundle.pem');

  let material: { caCertPem: string; certPem: string; keyPem: string } | undefined;
  if (existsSync(caPath) && existsSync(certPath) && existsSync(keyPath) && existsSync(bundlePath)) {
    const existing = {
      caCertPem: readFileSync(caPath, 'utf8'),
      certPem: readFileSync(certPath, 'utf8'),
      keyPem: readFileSync(keyPath, 'utf8'),
    };
    if (isFresh(existing.certPem)) material = existing;
  }
  if (!material) {
    material = makeCertificates();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(caPath, material.caCertPem);
    writeFileSync(certPath, material.certPem);
    writeFileSync(keyPath, material.keyPem, { mode: 0o600 });
    writeFileSync(bundlePath, `${systemBundle().trimEnd()}\n${material.caCertPem}`);
  }
  return { ...material, bundlePath };
}
