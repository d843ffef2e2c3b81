import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type Forge from 'node-forge';
import { ThermostreamError } from '../errors.ts';
import { lazy } from '../../simulator/lazy.ts';

const forge = lazy<typeof Forge>('node-forge');

export interface ServerCertificate {
  key: string;
  cert: string;
  /** The generated CA devices must trust; null when the certificate came from config. */
  caFile: string | null;
}

const DAY_MS = 86_400_000;
/** Names the generated server certificate is valid for. */
const SERVER_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] };

/**
 * The TLS listener's certificate: the configured PEM files, or (both unset) a CA and a server certificate generated
 * once into `{dataDir}/tls` and reused on later starts, so devices that trust the CA keep trusting the server.
 */
export function loadServerCertificate(files: { certFile: string; keyFile: string }, dataDir: string, now: number): ServerCertificate {
  if (files.certFile !== '' || files.keyFile !== '') {
    if (files.certFile === '' || files.keyFile === '') {
      throw new ThermostreamError('TS_ERR_TLS', 'mqtt.tls: set both certFile and keyFile, or neither (a certificate is then generated)');
    }
    const cert = readPem(files.certFile, 'mqtt.tls.certFile');
    const key = readPem(files.keyFile, 'mqtt.tls.keyFile');
    checkPair(cert, key, `mqtt.tls.certFile ${files.certFile}`, `mqtt.tls.keyFile ${files.keyFile}`);
    return { cert, key, caFile: null };
  }
  const dir = join(resolve(dataDir), 'tls'); // absolute: the start-up line names the CA file for devices to trust
  const paths = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
  if (!existsSync(paths.cert) || !existsSync(paths.key) || !existsSync(paths.ca)) {
    try {
      mkdirSync(dir, { recursive: true });
      const made = generateCertificates(now);
      // The CA's key stays only so an operator can issue more certificates; mode 0600 like the server's key.
      writeAtomically(paths.caKey, made.caKey, 0o600);
      writeAtomically(paths.ca, made.ca, 0o644);
      writeAtomically(paths.key, made.key, 0o600);
      writeAtomically(paths.cert, made.cert, 0o644);
    } catch (err) {
      throw new ThermostreamError('TS_ERR_TLS', `cannot generate a TLS certificate in ${dir}: ${(err as Error).message}`);
    }
  }
  const cert = readPem(paths.cert, 'the generated certificate');
  const key = readPem(paths.key, 'the generated key');
  checkPair(cert, key, `the generated certificate ${paths.cert}`, `the generated key ${paths.key}`);
  return { cert, key, caFile: paths.ca };
}

/**
 * A certificate and key the TLS listener can use: PEM, and the key the certificate's. Checked here, where the files
 * are named, rather than found by the listener as an OpenSSL error ("key values mismatch") without them.
 */
function checkPair(cert: string, key: string, certWhat: string, keyWhat: string): void {
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ThermostreamError(
      'TS_ERR_TLS',
      `${certWhat} and ${keyWhat} cannot serve TLS (${(err as Error).message}): both must be PEM, the key the certificate's`,
    );
  }
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ThermostreamError('TS_ERR_TLS', `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

function writeAtomically(file: string, text: string, mode: number): void {
  writeFileSync(`${file}.tmp`, text, { mode });
  renameSync(`${file}.tmp`, file);
}

/** A CA (10 years) and a server certificate it signs (5 years) for localhost, 127.0.0.1 and ::1. */
export function generateCertificates(now: number): { ca: string; caKey: string; cert: string; key: string } {
  const { pki, md } = forge();
  const caKeys = rsaKeyPair();
  const ca = pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = new Date(now - DAY_MS);
  ca.validity.notAfter = new Date(now + 3650 * DAY_MS);
  const caName = [{ name: 'commonName', value: 'Thermostream local CA' }, { name: 'organizationName', value: 'Thermostream' }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, md.sha256.create());

  const keys = rsaKeyPair();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now - DAY_MS);
  cert.validity.notAfter = new Date(now + 1825 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'Thermostream' }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...SERVER_NAMES.dns.map((value) => ({ type: 2, value })), ...SERVER_NAMES.ip.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKeys.privateKey, md.sha256.create());
  return {
    ca: pki.certificateToPem(ca),
    caKey: pki.privateKeyToPem(caKeys.privateKey),
    cert: pki.certificateToPem(cert),
    key: pki.privateKeyToPem(keys.privateKey),
  };
}

/** RSA 2048 from Node's own crypto (fast), handed to forge for the certificate work. */
function rsaKeyPair(): { publicKey: Forge.pki.rsa.PublicKey; privateKey: Forge.pki.rsa.PrivateKey } {
  const pair = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return {
    publicKey: forge().pki.publicKeyFromPem(pair.publicKey) as Forge.pki.rsa.PublicKey,
    privateKey: forge().pki.privateKeyFromPem(pair.privateKey) as Forge.pki.rsa.PrivateKey,
  };
}

/** A positive 16-byte serial (the high bit clear, as RFC 5280 wants a positive integer). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString('hex');
}
