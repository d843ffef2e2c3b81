import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { externalBrokerName, startExternalBroker } from './external-broker.ts';
import { startPostgres } from './postgres.ts';
import { tempDir } from './helpers.ts';

/**
 * An instance started with another instance list than the running ones, on a new data dir (whose cluster.json knows
 * nothing), used to start: the devices that move to it were then counted by it and by their old owner. Behind
 * Mosquitto, instances a and b with [a, b] and c started with [a, b, c]: every reading of the 12 devices hashing to
 * c counted twice in the devices figures and the fleet windows. The shared store records each instance's list.
 */
test(`instances sharing a PostgreSQL store behind ${externalBrokerName()} must run one instance list: another is refused, naming them, until --rebalance`, async (t) => {
  const [broker, postgres] = await Promise.all([startExternalBroker(t), startPostgres(t)]);
  const storeUrl = await postgres.createDatabase('lists');
  const dirs = { a: tempDir(t), b: tempDir(t), c: tempDir(t) };
  const start = (id: 'a' | 'b' | 'c', instances: string[], rebalance = false) =>
    startThermostream(
      resolveConfig({
        host: '127.0.0.1',
        http: { port: 0 },
        mqtt: { port: 0, tlsPort: -1 },
        dataDir: dirs[id],
        broker: { url: broker.url, clientId: `thermostream-${id}` },
        store: { url: storeUrl },
        cluster: { instanceId: id, instances },
      }),
      { rebalance },
    );
  const refused = (id: string, instances: string[], recorded: string) => (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_CLUSTER_CHANGED');
    assert.equal(
      err.message,
      `${storeUrl.replace(':secret@', ':***@')}: this instance "${id}" starts with the instance list ${JSON.stringify(instances)}, ` +
        `but the store records another one for ${recorded}: instances running with different lists count the devices that ` +
        'move on two instances or on none. Changing the list is a planned operation: stop every instance, then start each one ' +
        'with the new cluster.instances and --rebalance (see docs/OPERATIONS.md, Changing the instance list). Or start this ' +
        'one with the list in force.',
    );
    return true;
  };
  const running = async (...apps: Promise<{ close(): Promise<void> }>[]) => {
    const started = await Promise.all(apps);
    for (const app of started) t.after(() => app.close()); // a second close waits for the first
    return async () => {
      for (const app of started) await app.close();
    };
  };

  // a and b run with [a, b]; c, new, comes with [a, b, c] without the procedure: refused, and records nothing.
  let stop = await running(start('a', ['a', 'b']), start('b', ['a', 'b']));
  await assert.rejects(start('c', ['a', 'b', 'c']), refused('c', ['a', 'b', 'c'], '"a" ["a","b"], "b" ["a","b"]'));
  assert.equal(existsSync(join(dirs.c, 'cluster.json')), false);
  await stop();

  // The procedure: every instance stopped, each started with the new list and --rebalance; later starts need no flag.
  stop = await running(start('a', ['a', 'b', 'c'], true), start('b', ['a', 'b', 'c'], true), start('c', ['a', 'b', 'c'], true));
  await stop();
  stop = await running(start('c', ['c', 'b', 'a']));
  await stop();

  // Back to [a, b]: the rebalance forgets c's record; c started again with its old list is refused.
  stop = await running(start('a', ['a', 'b'], true), start('b', ['a', 'b'], true));
  await stop();
  stop = await running(start('a', ['a', 'b']));
  await assert.rejects(start('c', ['a', 'b', 'c']), refused('c', ['a', 'b', 'c'], '"a" ["a","b"], "b" ["a","b"]'));
  await stop();
});
