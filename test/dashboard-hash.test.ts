import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decoded } from '../dashboard/src/hash.ts';

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
