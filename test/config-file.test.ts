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

test('a --config file holding secrets that every user may read or write is warned about, naming them and the chmod; not when only its group may', (t) => {
  const file = join(tempDir(t), 'thermostream.json');
  const config = {
    http: { apiToken: 'a-token-of-32-characters-or-so-1' },
    auth: { mode: 'registry', users: [{ username: 'edge', password: 'bridge-secret-1', deviceId: '*' }] },
    store: { url: 'postgres://thermo:s3cret@localhost/thermo' },
    broker: { url: 'mqtts://edge:hunter2@broker.example:8883' },
  };
  writeFileSync(file, JSON.stringify(config));
  chmodSync(file, 0o644);
  assert.deepEqual(parseCli(['--config', file], {}).warnings, [
    `config file ${file} holds http.apiToken, auth.users[0].password, store.url (its password), broker.url (its password) and every user of this machine may read it (mode 0644): chmod o-rwx ${file}`,
  ]);
  chmodSync(file, 0o602);
  assert.match(parseCli(['--config', file], {}).warnings[0], /every user of this machine may write it \(mode 0602\)/);
  // Its group may read it (root's file, the service's group): right, and chmod 600 would lock the service out.
  for (const mode of [0o600, 0o640]) {
    chmodSync(file, mode);
    assert.deepEqual(parseCli(['--config', file], {}).warnings, [], mode.toString(8));
  }
  // A password given as a URL's query parameter is one too; nothing secret (an empty password), nothing to say.
  chmodSync(file, 0o644);
  writeFileSync(file, JSON.stringify({ store: { url: 'postgres://localhost/thermo?user=thermo&password=s3cret' } }));
  assert.match(parseCli(['--config', file], {}).warnings[0], /holds store\.url \(its password\) and/);
  writeFileSync(file, JSON.stringify({ http: { port: 8081 }, store: { url: 'postgres://thermo:@localhost/thermo' } }));
  assert.deepEqual(parseCli(['--config', file], {}).warnings, []);
});
