import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseCli } from '../server/config.ts';
import { tempDir } from './helpers.ts';

test('a --config file saved with a UTF-8 byte order mark is read as JSON', (t) => {
  // It was 'config file … is not valid JSON: Unexpected token \'\uFEFF\'', naming a character the editor does not show.
  const file = join(tempDir(t), 'thermostream.json');
  writeFileSync(file, '\uFEFF{ "http": { "port": 8081 } }\r\n');
  assert.equal(parseCli(['--config', file], {}).config.http.port, 8081);
  // What follows the mark is still judged as JSON.
  writeFileSync(file, '\uFEFF{ "http": ');
  assert.throws(() => parseCli(['--config', file], {}), { code: 'TS_ERR_CONFIG_FILE', message: new RegExp(`^config file ${file} is not valid JSON: `) });
});

test('a --config file holding secrets that other users may read is warned about, naming them and the chmod; not once it is 0600', (t) => {
  const file = join(tempDir(t), 'thermostream.json');
  const config = {
    http: { apiToken: 'a-token-of-32-characters-or-so-1' },
    auth: { mode: 'registry', users: [{ username: 'edge', password: 'bridge-secret-1', deviceId: '*' }] },
    store: { url: 'postgres://thermo:s3cret@localhost/thermo' },
  };
  writeFileSync(file, JSON.stringify(config));
  chmodSync(file, 0o644);
  assert.deepEqual(parseCli(['--config', file], {}).warnings, [
    `config file ${file} holds http.apiToken, auth.users[0].password, store.url (its password) and other users of this machine may read it (mode 0644): chmod 600 ${file}`,
  ]);
  chmodSync(file, 0o620);
  assert.match(parseCli(['--config', file], {}).warnings[0], /other users of this machine may write it \(mode 0620\)/);
  chmodSync(file, 0o600);
  assert.deepEqual(parseCli(['--config', file], {}).warnings, []);
  // Nothing secret in it: nothing to say, whatever its mode.
  writeFileSync(file, JSON.stringify({ http: { port: 8081 }, store: { url: 'postgres://thermo@localhost/thermo' } }));
  chmodSync(file, 0o644);
  assert.deepEqual(parseCli(['--config', file], {}).warnings, []);
});
