import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { generateCertificates, loadServerCertificate } from '../server/broker/certs.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { tempDir } from './helpers.ts';

test('the generated CA and server certificate are made once, valid for localhost and 127.0.0.1, and reused', (t) => {
  const dir = tempDir(t);
  const none = { certFile: '', keyFile: '' };
  const first = loadServerCertificate(none, dir, Date.now());
  assert.equal(first.caFile, join(dir, 'tls', 'ca.pem'));
  // A relative data dir (the default, "data") still names the CA file absolute, as the start-up line prints it.
  assert.equal(loadServerCertificate(none, relative(process.cwd(), dir), Date.now()).caFile, join(dir, 'tls', 'ca.pem'));
  const ca = new X509Certificate(readFileSync(first.caFile!));
  const cert = new X509Certificate(first.cert);
  assert.equal(ca.ca, true);
  assert.equal(cert.ca, false);
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'signed by the CA');
  assert.ok(cert.checkHost('localhost') !== undefined);
  assert.ok(cert.checkIP('127.0.0.1') !== undefined);
  assert.equal(cert.checkHost('example.com'), undefined);
  // A restart keeps the same certificate, so devices that trust the CA go on trusting the server.
  assert.deepEqual(loadServerCertificate(none, dir, Date.now()), first);

  // Configured files win; one without the other is an error naming both keys.
  const certFile = join(dir, 'my.pem');
  const keyFile = join(dir, 'my-key.pem');
  writeFileSync(certFile, first.cert);
  writeFileSync(keyFile, first.key);
  assert.deepEqual(loadServerCertificate({ certFile, keyFile }, dir, Date.now()), { cert: first.cert, key: first.key, caFile: null, warnings: [] });
  assert.throws(() => loadServerCertificate({ certFile, keyFile: '' }, dir, Date.now()), /TS_ERR_TLS|set both certFile and keyFile/);
  assert.throws(() => loadServerCertificate({ certFile: join(dir, 'missing.pem'), keyFile }, dir, Date.now()), (err: any) => {
    assert.equal(err.code, 'TS_ERR_TLS');
    assert.match(err.message, /cannot read mqtt\.tls\.certFile .*missing\.pem/);
    return true;
  });
  // Files that can be read but cannot serve TLS are refused here, naming both files, not at the listener with an
  // OpenSSL error and a stack trace: the CA's certificate with the server's key (the usual mix-up), and a key file
  // that is not PEM.
  const caFile = join(dir, 'tls', 'ca.pem');
  for (const files of [{ certFile: caFile, keyFile }, { certFile, keyFile: caFile }]) {
    assert.throws(() => loadServerCertificate(files, dir, Date.now()), (err: any) => {
      assert.equal(err.code, 'TS_ERR_TLS');
      assert.equal(err.message.startsWith(`mqtt.tls.certFile ${files.certFile} and mqtt.tls.keyFile ${files.keyFile} cannot serve TLS (`), true, err.message);
      assert.match(err.message, /\): both must be PEM, the key the certificate's$/);
      return true;
    });
  }
});

test('with iothub.hostName set (devices on other machines dial it), the generated certificate is valid for that name too: issued again by the same CA when the name comes later, and a device dialling that name verifies it', async (t) => {
  const dataDir = tempDir(t);
  const config = (hostName: string) =>
    resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: 0 }, iothub: { hostName }, dataDir });
  const first = await startThermostream(config(''));
  const ca = readFileSync(first.caFile!, 'utf8');
  await first.close();
  assert.equal(new X509Certificate(readFileSync(join(dataDir, 'tls', 'server.pem'))).checkHost('thermo.test'), undefined);

  // Restarted with a name for the devices (and another port, a proxy's): the certificate follows, the CA stays.
  const app = await startThermostream(config('thermo.test:18883'));
  t.after(() => app.close());
  assert.equal(readFileSync(app.caFile!, 'utf8'), ca, 'devices that trust the CA go on trusting the server');
  const cert = new X509Certificate(readFileSync(join(dataDir, 'tls', 'server.pem')));
  assert.equal(cert.checkHost('thermo.test'), 'thermo.test');
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.ok(cert.verify(new X509Certificate(ca).publicKey), 'signed by the same CA');

  // A device that dials thermo.test (here: this machine) verifies the certificate for that name, as the SDK does.
  const socket = connectTls({ host: '127.0.0.1', port: Number(new URL(app.mqttsUrl!).port), servername: 'thermo.test', ca });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  assert.equal(socket.authorized, true, String(socket.authorizationError));
  socket.end();

  // A restart with the same name keeps the certificate.
  const pem = readFileSync(join(dataDir, 'tls', 'server.pem'), 'utf8');
  assert.equal(loadServerCertificate({ certFile: '', keyFile: '' }, dataDir, Date.now(), 'thermo.test').cert, pem);
  // An IP address as the name is an IP entry of the certificate.
  const other = tempDir(t);
  const byIp = new X509Certificate(loadServerCertificate({ certFile: '', keyFile: '' }, other, Date.now(), '10.1.2.3:8883').cert);
  assert.equal(byIp.checkIP('10.1.2.3'), '10.1.2.3');
});

test('iothub.hostName changed but the CA key (ca-key.pem) missing: the server starts with a warning naming the file and what to do, the certificate kept', async (t) => {
  const dataDir = tempDir(t);
  const none = { certFile: '', keyFile: '' };
  const first = loadServerCertificate(none, dataDir, Date.now());
  const caKey = join(dataDir, 'tls', 'ca-key.pem');
  rmSync(caKey);
  const app = await startThermostream(resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: 0 }, iothub: { hostName: 'thermo.test' }, dataDir }));
  t.after(() => app.close());
  assert.equal(app.warnings.length, 1, String(app.warnings));
  const [warning] = app.warnings;
  assert.ok(warning.startsWith(`the generated TLS certificate ${join(dataDir, 'tls', 'server.pem')} is not valid for thermo.test (iothub.hostName)`), warning);
  assert.ok(warning.includes(`without the CA's key ${caKey}, which is missing`), warning);
  assert.ok(warning.includes(`Put ${caKey} back and restart, or set mqtt.tls.certFile and mqtt.tls.keyFile`), warning);
  assert.equal(readFileSync(join(dataDir, 'tls', 'server.pem'), 'utf8'), first.cert, 'the certificate is kept: it still serves localhost');
});

test('a crash between the writes of the server key and certificate (a new key beside the old certificate) is repaired at the next start: both issued again by the same CA', (t) => {
  const dataDir = tempDir(t);
  const none = { certFile: '', keyFile: '' };
  const first = loadServerCertificate(none, dataDir, Date.now(), 'thermo.test');
  const caPem = readFileSync(first.caFile!, 'utf8');
  const ca = new X509Certificate(caPem);
  const keyFile = join(dataDir, 'tls', 'server-key.pem');
  const certFile = join(dataDir, 'tls', 'server.pem');
  // The key is renamed into place first: a crash before the certificate's rename leaves a key of another pair.
  writeFileSync(keyFile, generateCertificates(Date.now()).key);
  const repaired = loadServerCertificate(none, dataDir, Date.now(), 'thermo.test');
  const cert = new X509Certificate(repaired.cert);
  assert.ok(cert.checkPrivateKey(createPrivateKey(repaired.key)), 'the key is the certificate\'s');
  assert.ok(cert.verify(ca.publicKey), 'signed by the same CA');
  assert.equal(cert.checkHost('thermo.test'), 'thermo.test');
  assert.notEqual(repaired.cert, first.cert);
  assert.equal(readFileSync(certFile, 'utf8'), repaired.cert);
  assert.equal(readFileSync(keyFile, 'utf8'), repaired.key);
  assert.equal(readFileSync(first.caFile!, 'utf8'), caPem, 'the CA is kept: devices go on trusting it');

  // A crash in the first generation after the CA was written and before the server pair: issued by that CA.
  rmSync(certFile);
  rmSync(keyFile);
  const again = new X509Certificate(loadServerCertificate(none, dataDir, Date.now(), 'thermo.test').cert);
  assert.ok(again.verify(ca.publicKey), 'signed by the same CA');

  // Without the CA's key nothing can be issued: an error naming the files and what to do.
  writeFileSync(keyFile, generateCertificates(Date.now()).key);
  rmSync(join(dataDir, 'tls', 'ca-key.pem'));
  assert.throws(() => loadServerCertificate(none, dataDir, Date.now()), (err: any) => {
    assert.equal(err.code, 'TS_ERR_TLS');
    assert.match(err.message, /server\.pem and key .*server-key\.pem are missing or do not match, and the CA's key .*ca-key\.pem to issue them again is missing: put/);
    return true;
  });
});
