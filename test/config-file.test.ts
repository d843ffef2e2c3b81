import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
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
