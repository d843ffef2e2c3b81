import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type Forge from 'node-forge';
import { ThermostreamError } from '../errors.ts';
import { hostWithoutPort } from '../url.ts';
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
 * `hostName` is iothub.hostName, the name devices dial: the generated certificate is valid for it too (its host,
 * without the port), and one generated before it was set is issued again for it by the same CA.
 */
export function loadServerCertificate(files: { certFile: string; keyFile: string }, dataDir: string, now: number, hostName = ''): ServerCertificate {
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
  const host = hostOf(hostName);
  if (host !== null && existsSync(paths.cert) && existsSync(paths.key) && existsSync(paths.ca) && existsSync(paths.caKey) && !covers(readPem(paths.cert, 'the generated certificate'), host)) {
    try {
      const made = issueServerCertificate(readPem(paths.ca, 'the generated CA'), readPem(paths.caKey, 'the generated CA key'), host, now);
      writeAtomically(paths.key, made.key, 0o600);
      writeAtomically(paths.cert, made.cert, 0o644);
    } catch (err) {
      throw new ThermostreamError('TS_ERR_TLS', `cannot issue a TLS certificate for ${host} (iothub.hostName) in ${dir}: ${(err as Error).message}`);
    }
  }
  if (!existsSync(paths.cert) || !existsSync(paths.key) || !existsSync(paths.ca)) {
    try {
      mkdirSync(dir, { recursive: true });
      const made = generateCertificates(now, host);
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

/** iothub.hostName's host: `thermo.example.com:18883` → `thermo.example.com`, `[::1]:8883` → `::1`; null when unset. */
function hostOf(hostName: string): string | null {
  return hostName === '' ? null : hostWithoutPort(hostName);
}

function covers(certPem: string, host: string): boolean {
  const cert = new X509Certificate(certPem);
  return (isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) !== undefined;
}

function subjectAltNames(host: string | null): object[] {
  const dns = [...SERVER_NAMES.dns, ...(host !== null && !isIP(host) && !SERVER_NAMES.dns.includes(host.toLowerCase()) ? [host] : [])];
  const ip = [...SERVER_NAMES.ip, ...(host !== null && isIP(host) && !SERVER_NAMES.ip.includes(host) ? [host] : [])];
  return [...dns.map((value) => ({ type: 2, value })), ...ip.map((v) => ({ type: 7, ip: v }))];
}

/** A CA (10 years) and a server certificate it signs (5 years) for localhost, 127.0.0.1, ::1 and `host`. */
export function generateCertificates(now: number, host: string | null = null): { ca: string; caKey: string; cert: string; key: string } {
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

  const server = signServerCertificate(ca, caKeys.privateKey, host, now);
  return { ca: pki.certificateToPem(ca), caKey: pki.privateKeyToPem(caKeys.privateKey), ...server };
}

/** A server certificate (5 years) for localhost, 127.0.0.1, ::1 and `host`, signed by the CA in `caPem`. */
function issueServerCertificate(caPem: string, caKeyPem: string, host: string, now: number): { cert: string; key: string } {
  const { pki } = forge();
  return signServerCertificate(pki.certificateFromPem(caPem), pki.privateKeyFromPem(caKeyPem), host, now);
}

function signServerCertificate(ca: Forge.pki.Certificate, caKey: Forge.pki.PrivateKey, host: string | null, now: number): { cert: string; key: string } {
  const { pki, md } = forge();
  const keys = rsaKeyPair();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(now - DAY_MS);
  cert.validity.notAfter = new Date(now + 1825 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }, { name: 'organizationName', value: 'Thermostream' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: subjectAltNames(host) },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey as Forge.pki.rsa.PrivateKey, md.sha256.create());
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
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
