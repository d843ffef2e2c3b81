import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
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
  /** For the start-up lines: what is wrong but does not stop the server (a certificate that cannot follow iothub.hostName). */
  warnings: string[];
}

const DAY_MS = 86_400_000;
/** Names the generated server certificate is valid for. */
const SERVER_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] };

/**
 * The TLS listener's certificate: the configured PEM files, or (both unset) a CA and a server certificate generated
 * once into `{dataDir}/tls` and reused on later starts, so devices that trust the CA keep trusting the server.
 * `hostName` is iothub.hostName, the name devices dial: the generated certificate is valid for it too (its host,
 * without the port), and one generated before it was set is issued again for it by the same CA (a warning when the
 * CA's key is gone). A server key and certificate that do not match (a crash while they were written) are issued
 * again too.
 */
export function loadServerCertificate(files: { certFile: string; keyFile: string }, dataDir: string, now: number, hostName = ''): ServerCertificate {
  if (files.certFile !== '' || files.keyFile !== '') {
    if (files.certFile === '' || files.keyFile === '') {
      throw new ThermostreamError('TS_ERR_TLS', 'mqtt.tls: set both certFile and keyFile, or neither (a certificate is then generated)');
    }
    const cert = readPem(files.certFile, 'mqtt.tls.certFile');
    const key = readPem(files.keyFile, 'mqtt.tls.keyFile');
    checkPair(cert, key, `mqtt.tls.certFile ${files.certFile}`, `mqtt.tls.keyFile ${files.keyFile}`);
    return { cert, key, caFile: null, warnings: [] };
  }
  const dir = join(resolve(dataDir), 'tls'); // absolute: the start-up line names the CA file for devices to trust
  const paths = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
  const host = hostOf(hostName);
  const warnings: string[] = [];
  if (!existsSync(paths.ca)) {
    try {
      mkdirSync(dir, { recursive: true });
      const made = generateCertificates(now, host);
      // The CA's key stays so that the server certificate can be issued again (a new iothub.hostName, a repair);
      // mode 0600 like the server's key. The CA's certificate is written after its key: its presence means both are.
      writeAtomically(paths.caKey, made.caKey, 0o600);
      writeAtomically(paths.ca, made.ca, 0o644);
      writeServerPair(paths, made);
    } catch (err) {
      throw new ThermostreamError('TS_ERR_TLS', `cannot generate a TLS certificate in ${dir}: ${(err as Error).message}`);
    }
  } else {
    const why = reissueReason(paths, host);
    if (why !== null && existsSync(paths.caKey)) {
      try {
        writeServerPair(paths, issueServerCertificate(readPem(paths.ca, 'the generated CA'), readPem(paths.caKey, 'the generated CA key'), host, now));
      } catch (err) {
        throw new ThermostreamError('TS_ERR_TLS', `cannot issue a TLS certificate${host === null ? '' : ` for ${host} (iothub.hostName)`} in ${dir}: ${(err as Error).message}`);
      }
    } else if (why === 'host') {
      warnings.push(
        `the generated TLS certificate ${paths.cert} is not valid for ${host} (iothub.hostName), and it cannot be issued again for it ` +
        `without the CA's key ${paths.caKey}, which is missing: devices that dial ${host} will refuse the server. Put ${paths.caKey} back ` +
        `and restart, or set mqtt.tls.certFile and mqtt.tls.keyFile to a certificate for ${host}, or delete ${dir} to generate a new CA ` +
        '(devices must then trust the new ca.pem)',
      );
    } else if (why !== null) {
      throw new ThermostreamError(
        'TS_ERR_TLS',
        `the generated TLS certificate ${paths.cert} and key ${paths.key} are missing or do not match, and the CA's key ${paths.caKey} ` +
        `to issue them again is missing: put ${paths.caKey} back, or set mqtt.tls.certFile and mqtt.tls.keyFile, or delete ${dir} to ` +
        'generate a new CA (devices must then trust the new ca.pem)',
      );
    }
  }
  const cert = readPem(paths.cert, 'the generated certificate');
  const key = readPem(paths.key, 'the generated key');
  checkPair(cert, key, `the generated certificate ${paths.cert}`, `the generated key ${paths.key}`);
  return { cert, key, caFile: paths.ca, warnings };
}

type GeneratedPaths = { ca: string; caKey: string; cert: string; key: string };

/**
 * The server's key and certificate are two files, so two renames: the key is written first and the certificate last,
 * so that a crash between them leaves a new key with the old certificate, which reissueReason finds at the next start
 * ('mismatch') and the server certificate is issued again. A crash before the key's rename leaves the old pair.
 */
function writeServerPair(paths: GeneratedPaths, made: { cert: string; key: string }): void {
  writeAtomically(paths.key, made.key, 0o600);
  writeAtomically(paths.cert, made.cert, 0o644);
}

/**
 * Why the generated server certificate must be issued again by the CA: missing (a crash during the first
 * generation, or deleted), its key not the certificate's (a crash between writeServerPair's renames), or not valid
 * for iothub.hostName's host (set or changed since); null when it can be used as it is.
 */
function reissueReason(paths: GeneratedPaths, host: string | null): 'missing' | 'mismatch' | 'host' | null {
  if (!existsSync(paths.cert) || !existsSync(paths.key)) return 'missing';
  const certPem = readPem(paths.cert, 'the generated certificate');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(readPem(paths.key, 'the generated key')))) return 'mismatch';
  } catch {
    return 'mismatch'; // not PEM: unreadable as a pair all the same
  }
  return host !== null && !covers(cert, host) ? 'host' : null;
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

function covers(cert: X509Certificate, host: string): boolean {
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
function issueServerCertificate(caPem: string, caKeyPem: string, host: string | null, now: number): { cert: string; key: string } {
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
