import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decoded, tableHash, tableQuery } from '../dashboard/src/hash.ts';

test("the dashboard's hash decoder takes a part with a stray % as written, and decodes the other parts", () => {
  const cases: [string, string][] = [
    ['devices/hall?range=5m&window=10000%2F2000', 'devices/hall?range=5m&window=10000/2000'],
    ['devices/bad%20id', 'devices/bad id'],
    ['devices/caf%C3%A9', 'devices/café'],
    ['devices/a%2Fb', 'devices/a/b'], // an encoded slash is part of the id, as before
    ['devices/50%', 'devices/50%'],
    // One bad part: only it is taken as written.
    ['devices/50%?range=5m&window=10000%2F2000', 'devices/50%?range=5m&window=10000/2000'],
    ['devices/bad%20id?range=5%&window=10000%2F2000', 'devices/bad id?range=5%&window=10000/2000'],
    ['devices/caf%C3%A9%/x%20y', 'devices/caf%C3%A9%/x y'],
    ['devices/%E9t%C3%A9', 'devices/%E9t%C3%A9'], // not UTF-8 (Latin-1 é): that part as written
    ['%zz/engine', '%zz/engine'],
    ['', ''],
  ];
  for (const [hash, want] of cases) assert.equal(decoded(hash), want, hash);
});

test("the device table's state in the overview's link: read back as written, defaults left out, what is not given absent", () => {
  const defaults = { filter: '', status: 'all', sortKey: 'deviceId', ascending: true, page: 0 };
  const state = { filter: 'hall & co/1', status: 'online', sortKey: 'lastSeen', ascending: false, page: 2 };
  const link = tableHash(state, defaults);
  assert.equal(link, '#/?filter=hall+%26+co%2F1&status=online&sort=-lastSeen&page=3');
  assert.deepEqual(tableQuery(link.slice(1)), state);
  assert.equal(tableHash(defaults, defaults), '#/');
  assert.equal(tableHash({ ...defaults, ascending: false }, defaults), '#/?sort=-deviceId');
  assert.deepEqual(tableQuery('/'), {});
  assert.deepEqual(tableQuery(''), {});
  assert.deepEqual(tableQuery('/devices/a?range=5m'), {}, "a device page's link is not the table's");
  assert.deepEqual(tableQuery('/?page=0&sort=-'), {}, 'no page 0, no sort without a key');
  assert.deepEqual(tableQuery('?page=2.5&sort=online'), { sortKey: 'online', ascending: true });
});
