/** store.url and cluster.instanceId: config, flags, environment, and the refusals that name them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { parseCli, resolveConfig } from '../server/config.ts';
import { openStore } from '../server/store/index.ts';
import { startPostgres } from './postgres.ts';
import { freePort } from './server-process.ts';
import { tempDir } from './helpers.ts';

test('store.url and cluster.instanceId default to SQLite and "main"; --store/--instance-id and their env vars set them', () => {
  const d = resolveConfig({});
  assert.deepEqual([d.store, d.cluster], [{ url: '' }, { instanceId: 'main', instances: [] }]);
  const url = 'postgres://ts:pw@db.example:5432/thermostream';
  const fromFlags = parseCli(['--store', url, '--instance-id', 'node-2'], {}).config;
  assert.deepEqual([fromFlags.store.url, fromFlags.cluster.instanceId], [url, 'node-2']);
  const fromEnv = parseCli([], { THERMOSTREAM_STORE: url, THERMOSTREAM_INSTANCE_ID: 'node.3' }).config;
  assert.deepEqual([fromEnv.store.url, fromEnv.cluster.instanceId], [url, 'node.3']);
});

test('a bad store.url or instance id is a configuration error naming the key, never the password', () => {
  const refused = (config: Record<string, unknown>, message: string) =>
    assert.throws(() => resolveConfig(config), { code: 'TS_ERR_CONFIG_INVALID', message });
  refused(
    { store: { url: 'mysql://u:hunter2@h/db' } },
    'invalid configuration: store.url = "mysql://u:***@h/db": must be empty (SQLite in the data dir), or a URL postgres://… or postgresql://…',
  );
  refused(
    { store: { url: 'postgres://u:hunter2@db.example:5432' } },
    'invalid configuration: store.url = "postgres://u:***@db.example:5432": no database name: expected postgres://user:password@host:port/database',
  );
  assert.throws(() => parseCli(['--store', 'postgres://u:hun/ter2@db.example/x'], {}), {
    code: 'TS_ERR_CONFIG_INVALID',
    message:
      'invalid configuration: store.url = "postgres://u:***@db.example/x" (from --store): not a URL (its user name or password ' +
      'holds "/", "?" or "#": percent-encode them there, as %2F, %3F and %23; "@" as %40, "%" as %25): expected "" (SQLite ' +
      'in the data dir) or postgres://user:password@host:port/database',
  });
  // A "#" in the password: the URL shown, its password hidden, looks right; the message says what is wrong with it.
  assert.throws(() => parseCli(['--store', 'postgres://u:hun#ter2@db.example/x'], {}), {
    code: 'TS_ERR_CONFIG_INVALID',
    message:
      'invalid configuration: store.url = "postgres://u:***@db.example/x" (from --store): not a URL (its user name or password ' +
      'holds "/", "?" or "#": percent-encode them there, as %2F, %3F and %23; "@" as %40, "%" as %25): expected "" (SQLite ' +
      'in the data dir) or postgres://user:password@host:port/database',
  });
  assert.equal(parseCli(['--store', 'postgres://u:hun%23ter2@db.example/x'], {}).config.store.url, 'postgres://u:hun%23ter2@db.example/x');
  assert.throws(() => parseCli(['--store', 'postgres://u:hunter2@:5432/x'], {}), {
    code: 'TS_ERR_CONFIG_INVALID',
    message: 'invalid configuration: store.url = "postgres://u:***@:5432/x" (from --store): not a URL: expected "" (SQLite in the data dir) or postgres://user:password@host:port/database',
  });
  refused(
    { cluster: { instanceId: 'a/b' } },
    'invalid configuration: cluster.instanceId = "a/b": must be 1 to 64 letters, digits, ".", "_" or "-"',
  );
});

test('PostgreSQL unreachable at start-up: TS_ERR_STORE_UNREACHABLE names the URL without its password', async (t) => {
  const port = await freePort(); // nothing listens there
  const url = `postgres://ts:hunter2@127.0.0.1:${port}/thermostream`;
  await assert.rejects(openStore(resolveConfig({ dataDir: tempDir(t), store: { url } })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_STORE_UNREACHABLE');
    assert.equal(
      err.message,
      `cannot use the PostgreSQL store at postgres://ts:***@127.0.0.1:${port}/thermostream (store.url): ECONNREFUSED: ` +
        `connect ECONNREFUSED 127.0.0.1:${port}. Check that PostgreSQL runs and accepts connections there, that the user, ` +
        'password and database exist (createdb), or set store.url to "" for SQLite',
    );
    return true;
  });
});

test('PostgreSQL asking for a password that store.url lacks (README\'s --instances example has none): the refusal says so', async (t) => {
  const postgres = await startPostgres(t);
  await postgres.createPasswordUser('thermo', 'hunter2hunter2');
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query('CREATE DATABASE thermo_db OWNER thermo'); // README: createdb -O thermo …
  await admin.end();
  const url = postgres.url.replace(/\/\/thermostream:secret@/, '//thermo@').replace(/\/postgres$/, '/thermo_db');
  await assert.rejects(openStore(resolveConfig({ dataDir: tempDir(t), store: { url } })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_STORE_UNREACHABLE');
    assert.equal(
      err.message,
      `cannot use the PostgreSQL store at ${url} (store.url): PostgreSQL asks for the password of user "thermo" and ` +
        'store.url has none (postgres://user:password@host:port/database, or the PGPASSWORD environment variable). Check ' +
        'that PostgreSQL runs and accepts connections there, that the user, password and database exist (createdb), or set ' +
        'store.url to "" for SQLite',
    );
    return true;
  });
  // With it, the same user gets in.
  const store = await openStore(resolveConfig({ dataDir: tempDir(t), store: { url: url.replace('//thermo@', '//thermo:hunter2hunter2@') } }));
  await store.close();
});

test('a PostgreSQL user that may not create tables in the schema public (not the database\'s owner, PostgreSQL 15+): the refusal says what to grant', async (t) => {
  const postgres = await startPostgres(t);
  await postgres.createPasswordUser('thermo2', 'hunter2hunter2');
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  // README used to say CREATE on the database is enough: it is not, where public takes CREATE from its owner only
  // (PostgreSQL 15's default, made explicit here for older servers). Found in an operator walkthrough.
  await admin.query('CREATE DATABASE granted_db');
  await admin.query('GRANT CONNECT, CREATE ON DATABASE granted_db TO thermo2');
  await admin.end();
  const adminUrl = postgres.url.replace(/\/postgres$/, '/granted_db');
  const inDb = new pg.Client({ connectionString: adminUrl });
  await inDb.connect();
  await inDb.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  await inDb.end();
  const url = adminUrl.replace(/\/\/thermostream:secret@/, '//thermo2:hunter2hunter2@');
  const shown = url.replace(':hunter2hunter2@', ':***@');
  await assert.rejects(openStore(resolveConfig({ dataDir: tempDir(t), store: { url } })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_STORE_UNREACHABLE');
    assert.equal(
      err.message,
      `cannot use the PostgreSQL store at ${shown} (store.url): 42501: permission denied for schema public. The user ` +
        '"thermo2" lacks a privilege the store needs: it creates its tables in the database\'s schema public at the first ' +
        'start, which needs CREATE there (PostgreSQL 15 and newer give it to the database\'s owner only): make "thermo2" ' +
        'the owner (createdb -O, or ALTER DATABASE … OWNER TO), or GRANT CREATE ON SCHEMA public TO it, or set store.url ' +
        'to "" for SQLite',
    );
    return true;
  });
  // With the grant the message names, the same user gets in.
  const grant = new pg.Client({ connectionString: adminUrl });
  await grant.connect();
  await grant.query('GRANT CREATE ON SCHEMA public TO thermo2');
  await grant.end();
  const store = await openStore(resolveConfig({ dataDir: tempDir(t), store: { url } }));
  await store.close();
});
