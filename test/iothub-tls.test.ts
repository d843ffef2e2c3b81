import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { loadServerCertificate } from '../server/broker/certs.ts';
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
  assert.deepEqual(loadServerCertificate({ certFile, keyFile }, dir, Date.now()), { cert: first.cert, key: first.key, caFile: null });
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
