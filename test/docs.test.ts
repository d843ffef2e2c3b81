/**
 * The documentation against the code: what a user reads in README.md, docs/*.md and `--help` must exist, and what
 * exists must be documented where a user looks. Each failure names the missing item and the file it belongs in.
 * The sources of truth are read directly: server/usage.ts (--help) and parseCli, config/schema.json and
 * default.json, errors.ts and the reason lists, the DStream classes, the simulator's --help (run once), the devices
 * CLI's usage, bench/run.ts, package.json; one in-process server (ephemeral loopback ports) gives the OpenAPI
 * document, the route list and /metrics. Deliberate exceptions are in commented allow-lists, each with its reason.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import defaults from '../config/default.json' with { type: 'json' };
import schema from '../config/schema.json' with { type: 'json' };
import pkg from '../package.json' with { type: 'json' };
import Fastify from 'fastify';
import { errorHandler } from '../server/api/request-errors.ts';
import { DASHBOARD_DIST } from '../server/api/static.ts';
import { parseCli } from '../server/config.ts';
import { DStream, StreamingContext } from '../server/engine/dstream/index.ts';
import { DStreamErrorCodes } from '../server/engine/dstream/errors.ts';
import { AuthFailures } from '../server/broker/auth.ts';
import { ErrorCodes, RejectReasons, ThermostreamError, type ErrorCode } from '../server/errors.ts';
import { EXIT_CODES, exitCode } from '../server/main.ts';
import { DEVICES_USAGE } from '../server/registry/cli.ts';
import { USAGE } from '../server/usage.ts';
import { ErrorCodes as SimulatorErrorCodes } from '../simulator/errors.ts';
import { startServer } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');
const README = read('README.md');
const DOCS: Record<string, string> = Object.fromEntries(
  readdirSync(`${ROOT}docs`).filter((f) => f.endsWith('.md')).map((f) => [`docs/${f}`, read(`docs/${f}`)]),
);
/** README and every doc, by file name: where a user looks. */
const ALL_DOCS: Record<string, string> = { 'README.md': README, ...DOCS };

/** What `missing` lists, one item a line, for a failure message. */
const lines = (items: Iterable<string>): string => [...items].map((i) => `  ${i}`).join('\n');
const uniq = (items: Iterable<string>): string[] => [...new Set(items)].sort();
const minus = (a: Iterable<string>, b: Iterable<string>): string[] => {
  const drop = new Set(b);
  return uniq([...a].filter((x) => !drop.has(x)));
};

/** The lines of a markdown table whose header row is `header` (the first one found), as arrays of cells. */
function table(text: string, header: string, file: string): string[][] {
  const at = text.indexOf(header);
  assert.ok(at >= 0, `${file} has a table headed ${header}`);
  const rows: string[][] = [];
  for (const line of text.slice(at).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    // Split on | that is not escaped (`--qos 0\|1`).
    rows.push(line.slice(1, line.endsWith('|') ? -1 : undefined).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  assert.ok(rows.length > 0, `${file}'s table headed ${header} has rows`);
  return rows;
}

/** The part of a markdown file from the heading `heading` to the next heading of the same or a higher level. */
function section(text: string, heading: string, file: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `${file} has the heading ${heading}`);
  const level = heading.match(/^#+/)![0].length;
  const rest = text.slice(start + heading.length + 2);
  // Headings only: lines starting with # inside a fenced code block are shell comments.
  let fenced = false;
  let offset = 0;
  for (const line of rest.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && line.match(/^(#+) /);
    if (m && m[1].length <= level) return rest.slice(0, offset);
    offset += line.length + 1;
  }
  return rest;
}

const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/g;
const flagsIn = (text: string): string[] => uniq(text.match(FLAG) ?? []);
const ENV = /THERMOSTREAM_[A-Z0-9_]+/g;
const envsIn = (text: string): string[] => uniq(text.match(ENV) ?? []);

// ---------------------------------------------------------------------------------------------------------------
// 1. Server flags and environment variables: USAGE (--help) ↔ README's options table ↔ the parser (config.ts).

const OPTIONS_HEADER = '| flag | environment | config key | default |';
const OPTIONS = table(README, OPTIONS_HEADER, 'README.md');

/**
 * Environment variables the server reads that are deliberately not in --help or README's options table: they make
 * it misbehave for the fault tests, and docs/OPERATIONS.md ("Fault injection (tests only)") describes them there.
 */
const TEST_ONLY_ENV: Record<string, string> = {
  THERMOSTREAM_FAULT: 'fault injection for test/faults (docs/OPERATIONS.md, Fault injection)',
  THERMOSTREAM_SUPERVISOR_LOCAL_STORE: 'lets the --instances tests run without PostgreSQL (docs/OPERATIONS.md, Fault injection)',
};

test('server: every flag of --help (server/usage.ts) is in README\'s options table, and the other way round', () => {
  const usage = flagsIn(USAGE);
  const readme = flagsIn(OPTIONS.map((r) => r[0]).join(' '));
  assert.deepEqual(minus(usage, readme), [], `flags in --help (server/usage.ts) missing from README.md's options table (${OPTIONS_HEADER}):\n${lines(minus(usage, readme))}`);
  assert.deepEqual(minus(readme, usage), [], `flags in README.md's options table that --help (server/usage.ts) does not list:\n${lines(minus(readme, usage))}`);
});

test('server: every flag documented (USAGE, README\'s options table) is accepted by the parser (parseCli)', () => {
  const unknown: string[] = [];
  for (const flag of uniq([...flagsIn(USAGE), ...flagsIn(OPTIONS.map((r) => r[0]).join(' '))])) {
    try {
      // A value that is wrong for most flags: refused for it, not as an unknown option.
      parseCli([`${flag}=1`], {});
    } catch (err) {
      if (/unknown option/.test((err as Error).message)) unknown.push(`${flag}: ${(err as Error).message}`);
    }
  }
  assert.deepEqual(unknown, [], `documented server flags that parseCli (server/config.ts) refuses as unknown:\n${lines(unknown)}`);
});

test('server: each row of README\'s options table is true: its flag and its variable set its config key', () => {
  const at = (config: unknown, key: string): unknown => key.split('.').reduce<any>((node, part) => node?.[part], config);
  // Values to try, the first one that the key takes and that differs from its default is used.
  const CANDIDATES = ['1', '2000', 'true', 'false', 'registry', 'main', 'x1', 'a,b', 'mqtt://127.0.0.1:1884', 'postgres://u:p@127.0.0.1:5432/db'];
  // Settings some values need (a cluster list names this instance and needs an external broker).
  const CONTEXT = ['--broker=mqtt://127.0.0.1:1884', '--instance-id=a'];
  const wrong: string[] = [];
  for (const [flagCell, envCell, keyCell] of OPTIONS) {
    const flag = flagsIn(flagCell)[0];
    const env = envsIn(envCell)[0];
    const key = keyCell.match(/`([^`]+)`/)?.[1];
    if (flag === undefined || env === undefined || key === undefined) continue;
    const base = at(parseCli([], {}).config, key);
    let found = false;
    for (const context of [[], CONTEXT.filter((c) => !c.startsWith(`${flag}=`))]) {
      for (const value of CANDIDATES) {
        let fromFlag: unknown;
        try {
          fromFlag = at(parseCli([...context, `${flag}=${value}`], {}).config, key);
        } catch {
          continue;
        }
        if (JSON.stringify(fromFlag) === JSON.stringify(base)) continue;
        found = true;
        let fromEnv: unknown;
        try {
          fromEnv = at(parseCli(context, { [env]: value }).config, key);
        } catch (err) {
          fromEnv = (err as Error).message;
        }
        if (JSON.stringify(fromEnv) !== JSON.stringify(fromFlag)) wrong.push(`${env}=${value}: ${key} = ${JSON.stringify(fromEnv)}, but ${flag}=${value} makes it ${JSON.stringify(fromFlag)}`);
        break;
      }
      if (found) break;
    }
    if (!found) wrong.push(`${flag}: no value of ${CANDIDATES.join(' ')} changes ${key} (is it the flag's key?)`);
  }
  assert.deepEqual(wrong, [], `rows of README.md's options table (flag | environment | config key) that the parser (server/config.ts) does not bear out:\n${lines(wrong)}`);
});

test('server: --help and README\'s options table pair each flag with the same variable', () => {
  // In USAGE a flag's variable is on its line or the lines that continue it, before the next flag's line.
  const fromUsage = USAGE.split(/\n(?= {2}--)/).flatMap((block) => {
    const flag = block.match(/^ {2}(--[a-z-]+)/)?.[1];
    return flag === undefined ? [] : [`${flag} ${envsIn(block)[0] ?? '(none)'}`];
  });
  const fromReadme = OPTIONS.map((r) => `${flagsIn(r[0])[0]} ${envsIn(r[1])[0] ?? '(none)'}`);
  assert.deepEqual(minus(fromUsage, fromReadme), [], `flag and variable pairs of --help (server/usage.ts) that README.md's options table pairs otherwise:\n${lines(minus(fromUsage, fromReadme))}`);
});

test('server: every THERMOSTREAM_* variable is in --help, README\'s options table and what config.ts reads (config-flags.ts), alike', () => {
  const usage = envsIn(USAGE);
  const readme = envsIn(OPTIONS.map((r) => r[1]).join(' '));
  const parser = envsIn(read('server/config.ts') + read('server/config-flags.ts'));
  const where: [string, string[]][] = [['--help (server/usage.ts)', usage], [`README.md's options table, environment column`, readme], ['server/config.ts and config-flags.ts (what the server reads)', parser]];
  const problems: string[] = [];
  for (const [name, list] of where) {
    for (const [other, otherList] of where) {
      if (name !== other) for (const env of minus(list, otherList)) problems.push(`${env}: in ${name}, missing from ${other}`);
    }
  }
  assert.deepEqual(problems, [], `environment variables documented in one place and not another:\n${lines(problems)}`);
});

test('server: every THERMOSTREAM_* variable the server reads is in --help (test-only ones in docs/OPERATIONS.md), and every one documented exists', () => {
  const sources = (dir: string): string[] =>
    readdirSync(`${ROOT}${dir}`, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? (e.name === 'dist' ? [] : sources(`${dir}/${e.name}`)) : /\.(ts|mjs)$/.test(e.name) ? [`${dir}/${e.name}`] : []);
  const files = sources('server');
  const readByServer = envsIn(files.map(read).join('\n'));
  const notInHelp = minus(readByServer, [...envsIn(USAGE), ...Object.keys(TEST_ONLY_ENV)]);
  assert.deepEqual(notInHelp, [], `THERMOSTREAM_* variables read in server/ that --help (server/usage.ts) and README.md's options table do not list:\n${lines(notInHelp)}`);
  for (const [env, why] of Object.entries(TEST_ONLY_ENV)) {
    assert.ok(readByServer.includes(env), `allow-listed ${env} is still read by the server (else drop it from TEST_ONLY_ENV)`);
    assert.ok(DOCS['docs/OPERATIONS.md'].includes(env), `${env} (${why}) is described in docs/OPERATIONS.md, Fault injection (tests only)`);
  }
  // Every variable a doc names is read somewhere: by the server, or by the tests (THERMOSTREAM_SYSTEM_ROOT).
  const documented = envsIn(Object.values(ALL_DOCS).join('\n'));
  const everywhere = envsIn([...files, ...sources('test')].map(read).join('\n'));
  const stale = minus(documented, everywhere);
  assert.deepEqual(stale, [], `THERMOSTREAM_* variables named in README.md/docs that nothing reads (remove them from the docs):\n${lines(stale)}`);
});

test('server: every `npm start -- …` command in README.md and docs/ uses flags the server has', () => {
  const known = new Set([...flagsIn(USAGE), '-h']);
  const bad: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const m of text.matchAll(/npm (?:-s )?(?:start|run (?:-s )?demo) -- ([^\n`|;#&)]*)/g)) {
      for (const flag of flagsIn(m[1])) if (!known.has(flag)) bad.push(`${file}: ${flag} in "${m[0].trim()}"`);
    }
  }
  assert.deepEqual(bad, [], `server commands in the docs with flags --help (server/usage.ts) does not have:\n${lines(bad)}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Configuration keys: config/schema.json ↔ README's tables (options table's config key column, "Other keys").

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
}

/** Every key a user sets, dotted: objects are walked into; maps, arrays and scalars are keys. */
function schemaKeys(node: SchemaNode, prefix = ''): { key: string; fields: string[] }[] {
  return Object.entries(node.properties ?? {}).flatMap(([name, child]) => {
    const key = prefix + name;
    const isMap = typeof child.additionalProperties === 'object';
    if (child.properties !== undefined && !isMap) return schemaKeys(child, `${key}.`);
    return [{ key, fields: Object.keys(child.items?.properties ?? {}) }];
  });
}

function schemaHas(path: string): boolean {
  let node: SchemaNode | undefined = schema as SchemaNode;
  for (const part of path.split('.')) {
    const map: SchemaNode | undefined = typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined;
    node = node?.properties?.[part] ?? map;
    if (node === undefined) return false;
  }
  return true;
}

const KEYS_HEADER = '| key | default | meaning |';

/**
 * The keys a table row documents, from its first backticked cell: `a.b.c`, `a.b.c` / `.d` (a sibling),
 * `a.<name>.d` with the names listed in parentheses in the row ("(threshold, spike, …)").
 */
function documentedKeys(cell: string, row: string): string[] {
  const keys: string[] = [];
  for (const [, token] of cell.matchAll(/`([^`]+)`/g)) {
    if (token.startsWith('.') && keys.length > 0) keys.push(keys[keys.length - 1].replace(/\.[^.]+$/, token));
    else if (token.includes('<name>')) {
      const names = [...row.matchAll(/\(([a-z]+(?:, [a-z]+)+)\)/g)].pop()?.[1].split(', ') ?? [];
      assert.ok(names.length > 0, `README.md: the row of ${token} lists the names it stands for in parentheses`);
      keys.push(...names.map((n) => token.replace('<name>', n)));
    } else keys.push(token);
  }
  return keys;
}

const OTHER_KEYS = table(README, KEYS_HEADER, 'README.md');
const DOCUMENTED_KEYS = new Map<string, string>(); // key → its row
for (const r of OPTIONS) for (const k of documentedKeys(r[2], r.join('|'))) DOCUMENTED_KEYS.set(k, r.join('|'));
for (const r of OTHER_KEYS) for (const k of documentedKeys(r[0], r.join('|'))) DOCUMENTED_KEYS.set(k, r.join('|'));

test('config: every key of config/schema.json is in README\'s configuration tables, with the fields of its entries', () => {
  const missing: string[] = [];
  for (const { key, fields } of schemaKeys(schema as SchemaNode)) {
    if (key === '$schema') {
      // Not a setting: the README's Configuration section says an editor may use it and the server ignores it.
      if (!README.includes('"$schema"')) missing.push('$schema: README.md, Configuration (that a config file may name the schema)');
      continue;
    }
    const row = DOCUMENTED_KEYS.get(key);
    if (row === undefined) {
      missing.push(`${key}: README.md, Configuration (the options table's config key column, or "Other keys" ${KEYS_HEADER})`);
      continue;
    }
    for (const field of fields) if (!row.includes(field)) missing.push(`${key}[].${field}: README.md, the row of ${key}`);
  }
  assert.deepEqual(missing, [], `config/schema.json keys not documented:\n${lines(missing)}`);
});

test('config: every key README\'s configuration tables document is in config/schema.json', () => {
  const stale = [...DOCUMENTED_KEYS.keys()].filter((k) => !schemaHas(k));
  assert.deepEqual(stale, [], `keys in README.md's configuration tables that config/schema.json does not have:\n${lines(stale)}`);
});

/**
 * Dotted names in the docs that start like a config key but name code, not configuration (file: name → why).
 */
const NOT_CONFIG_KEYS: Record<string, string> = {
  'docs/BENCHMARKS.md: store.commitBatch': 'the Store interface\'s method, which bench/store.ts times',
  'docs/BENCHMARKS.md: broker.publish': 'aedes\' method, which every PUBLISH went through before the fast path',
  'docs/BENCHMARKS.md: broker.subscriptions': 'a setting the measurement log says was not built',
  'docs/IOTHUB.md: mqtt.webSocketAgent': 'an option of the Azure IoT SDK\'s MQTT transport, not of the server',
};

/** Keys whose default README describes in words rather than as the value (key → why). */
const DEFAULTS_IN_WORDS: Record<string, string> = {
  windows: '"10 s / 2 s, 1 min / 10 s, 5 min / 1 min" reads better than three objects of milliseconds',
};

test('config: the defaults README\'s configuration tables give are config/default.json\'s', () => {
  const at = (key: string): unknown => key.split('.').reduce<any>((node, part) => node?.[part], defaults);
  const rows = [...OPTIONS.filter((r) => r[2] !== '').map((r) => [r[2], r[3], r.join('|')]), ...OTHER_KEYS.map((r) => [r[0], r[1], r.join('|')])];
  const wrong: string[] = [];
  for (const [keyCell, defaultCell, row] of rows) {
    const keys = documentedKeys(keyCell, row);
    // The first backticked value (several when the cell has one per key, `3` / `0`); "empty" is "".
    const values = defaultCell.startsWith('empty') ? [''] : [...defaultCell.split(/[:;(]/)[0].matchAll(/`([^`]*)`/g)].map((m) => m[1]);
    keys.forEach((key, i) => {
      if (DEFAULTS_IN_WORDS[key] !== undefined) return;
      const shown = values.length === keys.length ? values[i] : values[0];
      const value = at(key);
      const same = shown !== undefined && [JSON.stringify(value), String(value), JSON.stringify(value).replace(/,/g, ', ')].includes(shown === '""' ? '' : shown);
      if (!same && !(shown === '""' && value === '')) wrong.push(`${key}: README.md says ${shown === undefined ? '(nothing)' : shown}, config/default.json has ${JSON.stringify(value)}`);
    });
  }
  assert.deepEqual(wrong, [], `defaults in README.md's configuration tables that are not config/default.json's:\n${lines(wrong)}`);
});

test('config: every dotted config key named in README.md and docs/ exists in config/schema.json', () => {
  const sections = Object.entries((schema as SchemaNode).properties ?? {}).filter(([, n]) => n.properties !== undefined).map(([k]) => k);
  const key = new RegExp(`\`((?:${sections.join('|')})(?:\\.[A-Za-z]\\w*)+)`, 'g');
  const stale: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const [, k] of text.matchAll(key)) {
      // Files in the data dir (`cluster.json`) share a key's first name.
      if (/\.(json|db|pem|ts|md)$/.test(k)) continue;
      if (!schemaHas(k) && NOT_CONFIG_KEYS[`${file}: ${k}`] === undefined) stale.push(`${file}: ${k}`);
    }
  }
  for (const entry of Object.keys(NOT_CONFIG_KEYS)) {
    const [file, k] = entry.split(': ');
    assert.ok(ALL_DOCS[file]?.includes(`\`${k}`), `allow-listed ${entry} is still in the docs (else drop it from NOT_CONFIG_KEYS)`);
  }
  assert.deepEqual(uniq(stale), [], `config keys named in the docs that config/schema.json does not have:\n${lines(uniq(stale))}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 3. HTTP routes: what the server registers (its OpenAPI document and GET /api/v1) ↔ README.md and docs/.

/** A route as the docs write it: `GET /api/v1/devices/:id` (the OpenAPI document's {id} as :id). */
const asDocumented = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');

/** Routes the docs name on purpose although the server has none (file: route → why). */
const NOT_ROUTES: Record<string, string> = {
  'README.md: DELETE /api/v1/devices': 'the example of a 405 TS_ERR_METHOD_NOT_ALLOWED (the path has GET only)',
  'docs/ERRORS.md: DELETE /api/v1/devices': 'the example of a 405 TS_ERR_METHOD_NOT_ALLOWED (the path has GET only)',
};

/** Every route fastify has (HEAD aside: every GET answers it), from its printRoutes() tree. */
function fastifyRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = line.match(/^((?:[│ ] {3})*)[├└]── (\S+) \(([A-Z, ]+)\)$/);
    if (m === null) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const path = stack.join('').replace(/\/\/+/g, '/');
    for (const method of m[3].split(', ')) if (method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return uniq(routes);
}

/** Routes fastify has that the docs name only as a whole (route → why). */
const UNDOCUMENTED_ROUTES: Record<string, string> = {
  'GET /docs/': 'the same Swagger UI as GET /docs (@fastify/swagger-ui)',
  'GET /docs/static/index.html': "Swagger UI's own page, which GET /docs serves",
  'GET /docs/static/swagger-initializer.js': "Swagger UI's own script, loaded by its page",
  'GET /docs/*': "Swagger UI's static files, loaded by its page",
  'GET /api/v1/': 'the same list as GET /api/v1 (the start-up line names the API as http://…/api/v1/)',
};

/** Query parameters documented once for the routes that share them, not beside each route (name → where, why). */
const SHARED_QUERY_PARAMS: Record<string, string> = {
  doAs: 'README.md, Jobs: Livy clients send it on every /livy route; accepted and ignored, said once',
};

test('HTTP: every route the server registers is documented, and every route the docs name exists', async (t) => {
  // Batches on the main thread: a batch thread's start (a worker with the TypeScript loader) is the slowest part,
  // and the routes are the same.
  // Once the dashboard is built (npm run build), each of its files is a route, served for GET / (README, Dashboard).
  const dashboardFiles = existsSync(DASHBOARD_DIST)
    ? readdirSync(DASHBOARD_DIST, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => `GET /${relative(DASHBOARD_DIST, join(e.parentPath ?? e.path, e.name))}`)
    : [];
  const app = await startServer(t, { batchThread: 'main', mqtt: { port: 0, tlsPort: -1, websocket: false } });
  const doc = (await app.http.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
  const index = (await app.http.inject({ method: 'GET', url: '/api/v1' })).json() as { routes: { method: string; url: string }[] };
  const registered = uniq([
    ...Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${asDocumented(p)}`)),
    ...index.routes.map((r) => `${r.method} ${r.url}`),
    ...fastifyRoutes(app.http.printRoutes({ commonPrefix: false })),
  ]).filter((route) => UNDOCUMENTED_ROUTES[route] === undefined && !dashboardFiles.includes(route));
  for (const route of Object.keys(UNDOCUMENTED_ROUTES)) {
    assert.ok(fastifyRoutes(app.http.printRoutes({ commonPrefix: false })).includes(route), `allow-listed ${route} is still registered (else drop it from UNDOCUMENTED_ROUTES)`);
  }
  assert.ok(registered.length > 30, `the server registers its routes (got ${registered.length})`);

  const text = Object.values(ALL_DOCS).join('\n').replace(/\{(\w+)\}/g, ':$1');
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const undocumented = registered.filter((route) => !new RegExp(`${escape(route)}(?![\\w/:-])`).test(text));
  assert.deepEqual(undocumented, [], `routes the server registers that README.md (HTTP API, Jobs) and docs/ do not name as METHOD /path:\n${lines(undocumented)}`);

  // Every METHOD /api/… or /livy/… the docs name matches a registered route (a concrete id matches :id; HEAD a GET).
  const patterns = registered.map((r) => {
    const [method, path] = r.split(' ');
    return { method, re: new RegExp(`^${path.split('/').map((p) => (p.startsWith(':') ? '[^/]+' : escape(p))).join('/')}$`) };
  });
  const stale: string[] = [];
  for (const [file, body] of Object.entries(ALL_DOCS)) {
    for (const m of body.replace(/\{(\w+)\}/g, ':$1').matchAll(/\b(GET|POST|PUT|PATCH|DELETE|HEAD) (\/(?:api|livy)\/[^\s`?,;)…]*)/g)) {
      const method = m[1] === 'HEAD' ? 'GET' : m[1];
      const path = m[2].replace(/[.:]$/, '');
      if (patterns.some((p) => p.method === method && p.re.test(path))) continue;
      if (NOT_ROUTES[`${file}: ${m[1]} ${path}`] !== undefined) {
        // The example still holds: the path has routes, none of this method.
        assert.ok(patterns.some((p) => p.re.test(path)), `${file}: ${m[1]} ${path} is the example of a path with other methods`);
      } else stale.push(`${file}: ${m[1]} ${path}`);
    }
    // A path named without a method (a curl command, a link): some route has it.
    for (const m of body.matchAll(/(?<![\w.])\/api\/v1(\/[A-Za-z0-9_:{}.*-]+)*/g)) {
      const path = m[0].replace(/\.$/, '').replace(/\{(\w+)\}/g, 'x');
      if (path !== '/api/v1' && !patterns.some((p) => p.re.test(path))) stale.push(`${file}: ${path}`);
    }
  }
  assert.deepEqual(uniq(stale), [], `routes named in the docs that the server does not have:\n${lines(uniq(stale))}`);

  // Each query parameter is named (`param=`) on a line of the docs that names its route; each header parameter is named.
  const docLines = text.split('\n');
  const params: string[] = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops as Record<string, { parameters?: { in: string; name: string }[] }>)) {
      const route = asDocumented(p);
      const onItsLines = docLines.filter((l) => new RegExp(`${escape(route)}(?![\\w/:-])`).test(l));
      for (const { in: where, name } of op.parameters ?? []) {
        if (where === 'query' && SHARED_QUERY_PARAMS[name] === undefined && !onItsLines.some((l) => l.includes(`${name}=`))) {
          params.push(`${method.toUpperCase()} ${route}: query parameter ${name} (as ${name}= beside the route)`);
        }
        if (where === 'header' && !text.toLowerCase().includes(name.toLowerCase())) params.push(`${method.toUpperCase()} ${route}: header ${name}`);
      }
    }
  }
  for (const [name, why] of Object.entries(SHARED_QUERY_PARAMS)) assert.ok(text.includes(`\`${name}\``), `${name} (${why}) is named in the docs`);
  assert.deepEqual(uniq(params), [], `parameters the OpenAPI document gives routes that README.md/docs do not name:\n${lines(uniq(params))}`);

  // Every thermostream_* metric GET /metrics serves is in README's Metrics table, and every one there is served.
  const metrics = await app.http.inject({ method: 'GET', url: '/metrics' });
  const served = uniq([...metrics.body.matchAll(/^# TYPE (thermostream_\w+)/gm)].map((m) => m[1]));
  assert.ok(served.length > 10, `GET /metrics serves thermostream_* metrics (got ${served.length})`);
  const metricRows = table(README, '| metric | type | meaning |', 'README.md');
  const documented = metricRows.flatMap((r) => {
    const names = [...r[0].matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\{.*\}$/, ''));
    // `thermostream_a_b_c`, `…_d`: the ellipsis stands for the first name's beginning, up to some underscore.
    return names.map((n) => {
      if (!n.startsWith('…')) return n;
      const stem = names[0].split('_');
      return stem.map((_, i) => stem.slice(0, i).join('_') + n.slice(1)).find((c) => served.includes(c)) ?? `${names[0]} ${n} (no such metric)`;
    });
  }).filter((n) => n.startsWith('thermostream_'));
  assert.deepEqual(minus(served, documented), [], `metrics GET /metrics serves that README.md's Metrics table does not list:\n${lines(minus(served, documented))}`);
  assert.deepEqual(minus(documented, served), [], `metrics in README.md's Metrics table that GET /metrics does not serve:\n${lines(minus(documented, served))}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 4. Error codes: server/errors.ts ↔ docs/ERRORS.md (the engine's ↔ docs/ENGINE.md, the simulator's ↔ SIMULATOR.md).

/** The codes of the first column of a doc's tables: `| \`CODE\` | …`. */
const tabledCodes = (text: string, prefix: string): string[] =>
  uniq([...text.matchAll(new RegExp(`^\\| \`(${prefix}[A-Z_]+)\``, 'gm'))].map((m) => m[1]));

test('errors: every code of server/errors.ts is tabled in docs/ERRORS.md, and every TS_ERR_ code the docs name exists', () => {
  const codes = Object.keys(ErrorCodes);
  const tabled = tabledCodes(DOCS['docs/ERRORS.md'], 'TS_ERR_');
  assert.deepEqual(minus(codes, tabled), [], `codes of server/errors.ts missing from docs/ERRORS.md's table:\n${lines(minus(codes, tabled))}`);
  const engine = Object.keys(DStreamErrorCodes);
  const engineTabled = tabledCodes(DOCS['docs/ENGINE.md'], 'TS_ERR_');
  assert.deepEqual(minus(engine, engineTabled), [], `codes of server/engine/dstream/errors.ts missing from docs/ENGINE.md's Errors table:\n${lines(minus(engine, engineTabled))}`);
  const stale: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const code of uniq(text.match(/TS_ERR_[A-Z_]+/g) ?? [])) {
      if (!codes.includes(code) && !engine.includes(code)) stale.push(`${file}: ${code}`);
    }
  }
  assert.deepEqual(stale, [], `TS_ERR_ codes named in the docs that neither server/errors.ts nor server/engine/dstream/errors.ts has:\n${lines(stale)}`);
});

test('errors: the exit code docs/ERRORS.md and docs/OPERATIONS.md (Exit codes) give each start-up error is the server\'s', () => {
  const wrong: string[] = [];
  let checked = 0;
  const check = (code: string, documented: number, where: string): void => {
    checked++;
    // exitCode() answers 1 for a code it does not know: a code counts as exiting so only if EXIT_CODES lists it.
    const listed = EXIT_CODES[code as ErrorCode];
    const actual = exitCode(new ThermostreamError(code as ErrorCode, 'a message'));
    if (listed === undefined) wrong.push(`${code}: ${where} says exit code ${documented}, EXIT_CODES (server/main.ts) does not list it`);
    else if (actual !== documented) wrong.push(`${code}: ${where} says exit code ${documented}, exitCode() (server/main.ts) gives ${actual}`);
  };
  for (const m of DOCS['docs/ERRORS.md'].matchAll(/^\| `(TS_ERR_[A-Z_]+)` \| ([^|]*) \|/gm)) {
    const exit = m[2].match(/exit code (\d)/);
    if (exit !== null) check(m[1], Number(exit[1]), 'docs/ERRORS.md');
  }
  for (const m of section(DOCS['docs/OPERATIONS.md'], '## Exit codes', 'docs/OPERATIONS.md').matchAll(/^\| (\d) \| (.*) \|$/gm)) {
    for (const [code] of m[2].matchAll(/TS_ERR_[A-Z_]+/g)) check(code, Number(m[1]), 'docs/OPERATIONS.md, Exit codes');
  }
  assert.ok(checked > 20, `exit codes found in the docs (${checked})`);
  // Every error ERRORS.md gives an exit code is in OPERATIONS.md's table, where an operator looks up an exit code.
  const exitTable = section(DOCS['docs/OPERATIONS.md'], '## Exit codes', 'docs/OPERATIONS.md');
  const exiting = [...DOCS['docs/ERRORS.md'].matchAll(/^\| `(TS_ERR_[A-Z_]+)` \| [^|]*exit code \d/gm)].map((m) => m[1]);
  const absent = exiting.filter((code) => !exitTable.includes(code));
  assert.deepEqual(absent, [], `errors docs/ERRORS.md gives an exit code that docs/OPERATIONS.md's Exit codes table does not name:\n${lines(absent)}`);
  // And every code EXIT_CODES lists is in that table, in its code's row.
  const rows = new Map([...exitTable.matchAll(/^\| (\d) \| (.*) \|$/gm)].map((m) => [Number(m[1]), m[2]]));
  const untabled = Object.entries(EXIT_CODES).filter(([code, n]) => !new RegExp(`\\b${code}\\b`).test(rows.get(n) ?? '')).map(([code, n]) => `${code} (${n})`);
  assert.deepEqual(untabled, [], `EXIT_CODES (server/main.ts) entries that docs/OPERATIONS.md's Exit codes table does not name in their row:\n${lines(untabled)}`);
  assert.deepEqual(wrong, [], `exit codes the docs give otherwise than the server:\n${lines(wrong)}`);
});

test('errors: the reasons a reading is dead-lettered and a connection refused are tabled in docs/ERRORS.md, both ways', () => {
  const reasons = (heading: string): string[] => uniq([...section(DOCS['docs/ERRORS.md'], heading, 'docs/ERRORS.md').matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
  for (const [heading, codes, source] of [
    ['## Rejected readings', [...RejectReasons], 'RejectReasons in server/errors.ts'],
    ['## Refused connections', [...AuthFailures], 'AuthFailures in server/broker/auth.ts'],
  ] as const) {
    const tabled = reasons(heading);
    assert.deepEqual(minus(codes, tabled), [], `${source} missing from docs/ERRORS.md, ${heading}:\n${lines(minus(codes, tabled))}`);
    assert.deepEqual(minus(tabled, codes), [], `reasons in docs/ERRORS.md, ${heading}, that ${source} does not have:\n${lines(minus(tabled, codes))}`);
  }
});

test('errors: TS_ERR_INTERNAL, tabled in docs/ERRORS.md for HTTP 500, is what the API answers for an error it did not expect', async (t) => {
  const app = Fastify({ logger: false });
  t.after(() => app.close());
  app.setErrorHandler(errorHandler);
  app.get('/boom', async () => {
    throw new Error('a bug');
  });
  const res = await app.inject({ method: 'GET', url: '/boom' });
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { error: 'TS_ERR_INTERNAL', message: 'a bug' });
  assert.match(DOCS['docs/ERRORS.md'], /^\| `TS_ERR_INTERNAL` \| HTTP 500 \|/m);
});

test('errors: every SIM_ code of simulator/errors.ts is in docs/SIMULATOR.md, and every one it names exists', () => {
  const codes = Object.keys(SimulatorErrorCodes);
  const named = uniq(DOCS['docs/SIMULATOR.md'].match(/SIM_[A-Z_]+/g) ?? []);
  assert.deepEqual(minus(codes, named), [], `codes of simulator/errors.ts missing from docs/SIMULATOR.md (Errors):\n${lines(minus(codes, named))}`);
  assert.deepEqual(minus(named, codes), [], `SIM_ codes in docs/SIMULATOR.md that simulator/errors.ts does not have:\n${lines(minus(named, codes))}`);
});

test('engine: every public member of StreamingContext and DStream is in docs/ENGINE.md\'s API tables', () => {
  const doc = section(DOCS['docs/ENGINE.md'], '## API', 'docs/ENGINE.md');
  const missing: string[] = [];
  for (const [cls, file] of [[StreamingContext, 'server/engine/dstream/context.ts'], [DStream, 'server/engine/dstream/dstream.ts']] as const) {
    const hidden = new Set([...read(file).matchAll(/^\s+(?:private|protected) (?:async |static |readonly )*(\w+)/gm)].map((m) => m[1]));
    const members = new Set<string>();
    for (let proto = cls.prototype; proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      // `_name`: shared between the engine's own files, not for jobs.
      for (const name of Object.getOwnPropertyNames(proto)) if (name !== 'constructor' && !name.startsWith('_') && !hidden.has(name)) members.add(name);
    }
    assert.ok(members.size > 5, `${cls.name} has public members (got ${[...members].join(', ')})`);
    for (const name of members) if (!new RegExp(`\`(?:new )?${name}\\b`).test(doc)) missing.push(`${cls.name}.${name} (${file})`);
  }
  assert.deepEqual(missing, [], `public members of the DStream API missing from docs/ENGINE.md, API:\n${lines(missing)}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 5. CLIs: the simulator's --help ↔ docs/SIMULATOR.md; the devices CLI ↔ README/docs/IOTHUB.md; bench ↔
//    docs/BENCHMARKS.md; npm scripts named in the docs ↔ package.json.

/** The simulator's --help as a user sees it, started at once: it runs beside the HTTP test's server. */
const SIMULATOR_HELP = promisify(execFile)(process.execPath, ['--import', 'tsx', 'simulator/cli.ts', '--help'], { cwd: ROOT });

test('simulator: every flag of its --help is in docs/SIMULATOR.md\'s options table, and the other way round', async () => {
  const { stdout } = await SIMULATOR_HELP;
  // The usage's second form runs it under node, whose --import is not the simulator's.
  const help = flagsIn(stdout.replace('node --import tsx simulator/cli.ts', ''));
  assert.ok(help.includes('--devices') && help.includes('--replay'), `the simulator's --help lists its flags:\n${stdout}`);
  const rows = table(DOCS['docs/SIMULATOR.md'], '| option | unit | default | meaning |', 'docs/SIMULATOR.md');
  const documented = flagsIn(rows.map((r) => r[0]).join(' '));
  assert.deepEqual(minus(help, documented), [], `flags of npm run simulate -- --help (simulator/cli.ts) missing from docs/SIMULATOR.md's Options table:\n${lines(minus(help, documented))}`);
  assert.deepEqual(minus(documented, help), [], `flags in docs/SIMULATOR.md's Options table that npm run simulate -- --help does not list:\n${lines(minus(documented, help))}`);
  // The defaults --help gives (`default X` at a flag's line) are the table's.
  const wrongDefaults: string[] = [];
  for (const m of stdout.matchAll(/^ {2}(--[a-z-]+) .*\s{2}default ([^:\s]\S*)/gm)) {
    const row = rows.find((r) => flagsIn(r[0])[0] === m[1]);
    const shown = row?.[2].replace(/`/g, '').split(/[\s(]/)[0];
    if (shown !== m[2]) wrongDefaults.push(`${m[1]}: --help says ${m[2]}, docs/SIMULATOR.md says ${shown ?? '(no row)'}`);
  }
  assert.deepEqual(wrongDefaults, [], `simulator defaults that docs/SIMULATOR.md's Options table gives otherwise than --help:\n${lines(wrongDefaults)}`);
  // Every simulator command in the docs uses flags it has.
  const bad: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const m of text.matchAll(/npm run (?:-s )?simulate -- ((?:[^\n`|;#&)]|\\\n)*)/g)) {
      for (const flag of flagsIn(m[1])) if (!help.includes(flag)) bad.push(`${file}: ${flag}`);
    }
  }
  assert.deepEqual(uniq(bad), [], `npm run simulate commands in the docs with flags --help does not list:\n${lines(uniq(bad))}`);
});

test('devices CLI: every command and flag of its usage is in README.md (Devices and security) or docs/IOTHUB.md', () => {
  const commands = uniq([...DEVICES_USAGE.slice(DEVICES_USAGE.indexOf('Commands:'), DEVICES_USAGE.indexOf('Options:')).matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]));
  assert.ok(commands.length >= 7, `DEVICES_USAGE lists its commands (got ${commands.join(', ')})`);
  const flags = flagsIn(DEVICES_USAGE);
  const where = `${section(README, '## Devices and security', 'README.md')}\n${DOCS['docs/IOTHUB.md']}`;
  const missing = [
    ...commands.filter((c) => !new RegExp(`npm run (-s )?devices -- ${c}\\b`).test(where)).map((c) => `command ${c}: an example \`npm run devices -- ${c} …\``),
    ...flags.filter((f) => !where.includes(f)).map((f) => `flag ${f}`),
  ];
  const running = table(README, '| command | what it does |', 'README.md').find((r) => r[0].includes('npm run devices'))?.[1] ?? '';
  for (const c of commands) if (!running.includes(`\`${c}\``)) missing.push(`command ${c}: README.md, Running (the npm run devices row)`);
  assert.deepEqual(missing, [], `devices CLI (server/registry/cli.ts DEVICES_USAGE) items missing from README.md's "Devices and security" and docs/IOTHUB.md:\n${lines(missing)}`);
  const bad: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const m of text.matchAll(/npm run (?:-s )?devices -- ([^\n`|;#&)]*)/g)) {
      const first = m[1].trim().split(/\s+/)[0];
      // `npm run devices -- …` stands for any command.
      if (first !== '…' && !first.startsWith('-') && !commands.includes(first)) bad.push(`${file}: command ${first}`);
      for (const flag of flagsIn(m[1])) if (!flags.includes(flag)) bad.push(`${file}: ${flag}`);
    }
  }
  assert.deepEqual(uniq(bad), [], `npm run devices commands in the docs that the devices CLI does not have:\n${lines(uniq(bad))}`);
});

test('bench: every benchmark of bench/run.ts is listed at the top of docs/BENCHMARKS.md, and each listed one exists', () => {
  const source = read('bench/run.ts');
  const keys = (name: string): string[] => {
    const body = source.match(new RegExp(`const ${name}: Record<string, string> = \\{([^}]*)\\}`))?.[1];
    assert.ok(body !== undefined, `bench/run.ts has ${name}`);
    return [...body.matchAll(/^\s*'?([a-z-]+)'?:/gm)].map((m) => m[1]);
  };
  const names = uniq([...keys('BENCHMARKS'), ...keys('TOOLS')]);
  const doc = DOCS['docs/BENCHMARKS.md'];
  const top = doc.match(/```sh\n([\s\S]*?)```/)?.[1] ?? '';
  const listed = uniq([...top.matchAll(/npm run bench -- ([a-z-]+)/g)].map((m) => m[1]));
  assert.deepEqual(minus(names, listed), [], `benchmarks of bench/run.ts missing from the first block of docs/BENCHMARKS.md (npm run bench -- <name>  # what it measures):\n${lines(minus(names, listed))}`);
  // `npm run bench` alone runs BENCHMARKS; the block marks the others (TOOLS) as not in "all".
  const notInAll = uniq([...top.matchAll(/npm run bench -- ([a-z-]+) .*not in "all"\)/g)].map((m) => m[1]));
  assert.deepEqual(notInAll, uniq(keys('TOOLS')), 'docs/BENCHMARKS.md\'s first block marks "not in \"all\"" exactly the TOOLS of bench/run.ts');
  const everywhere = uniq(Object.values(ALL_DOCS).flatMap((t) => [...t.matchAll(/npm run (?:-s )?bench -- ([a-z][a-z-]*)/g)].map((m) => m[1])));
  assert.deepEqual(minus(everywhere, names), [], `npm run bench -- <name> in the docs that bench/run.ts does not have:\n${lines(minus(everywhere, names))}`);
});

/** Flags in the docs that belong to other programs, or stand for no flag at all (flag → whose, why). */
const FOREIGN_FLAGS: Record<string, string> = {
  '--max-semi-space-size': 'node (V8): npm start passes it; docs/OPERATIONS.md, Memory',
  '--heap-growing-percent': 'V8: what --heap-growth sets',
  '--max-old-space-size': 'node (V8): measured in docs/BENCHMARKS.md',
  '--v8-pool-size': 'node: measured in docs/BENCHMARKS.md',
  '--single-threaded-gc': 'V8: measured in docs/BENCHMARKS.md',
  '--optimize-for-size': 'V8: measured in docs/BENCHMARKS.md',
  '--trace-gc': 'node (V8): measured in docs/BENCHMARKS.md',
  '--test': "node's test runner",
  '--test-concurrency': "node's test runner (npm run test:unit)",
  '--noEmit': 'tsc (npm run typecheck)',
  '--compressed': 'curl',
  '--cafile': 'mosquitto_pub',
  '--prefix': 'npm (docs/SIMULATOR.md: npm --prefix <checkout> run simulate from another directory)',
  '--option': 'docs/SIMULATOR.md: the placeholder of --option=VALUE',
  '--frobnicate': 'docs/SIMULATOR.md: the example of an unknown option, refused',
};

test('flags: every --flag in README.md and docs/ is one of the server, the simulator, the devices CLI or a benchmark', async () => {
  const { stdout } = await SIMULATOR_HELP;
  const known = new Set([...flagsIn(USAGE), ...flagsIn(DEVICES_USAGE), ...flagsIn(stdout)]);
  // A benchmark's options are read by its own parser in bench/: named there as '--name' (a bare 'name' matched any word).
  const bench = readdirSync(`${ROOT}bench`).filter((f) => f.endsWith('.ts')).map((f) => read(`bench/${f}`)).join('\n');
  const benchHas = (flag: string): boolean => bench.includes(`'${flag}'`) || bench.includes(`"${flag}"`) || bench.includes(`\`${flag}`);
  const unknown: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const flag of uniq(text.match(/(?<![\w-])--[a-zA-Z][a-zA-Z0-9-]*/g) ?? [])) {
      if (!known.has(flag) && !benchHas(flag) && FOREIGN_FLAGS[flag] === undefined) unknown.push(`${file}: ${flag}`);
    }
  }
  assert.deepEqual(unknown, [], `flags named in the docs that no CLI of this project has (a renamed or removed flag, or add it to FOREIGN_FLAGS with whose it is):\n${lines(unknown)}`);
  const allDocs = Object.values(ALL_DOCS).join('\n');
  for (const flag of Object.keys(FOREIGN_FLAGS)) assert.ok(allDocs.includes(flag), `allow-listed ${flag} is still in the docs (else drop it from FOREIGN_FLAGS)`);
});

test('npm: every script of package.json is named in README.md (npm\'s own hooks aside)', () => {
  // npm runs pre<name> before <name> by itself (npm start builds the server first), and prepare at npm install
  // (README says so: "through the `prepare` script").
  const hooks = Object.keys(pkg.scripts).filter((s) => s === 'prepare' || (s.startsWith('pre') && s.slice(3) in pkg.scripts));
  assert.ok(README.includes('`prepare`'), 'README.md says npm install runs the `prepare` script');
  const unnamed = Object.keys(pkg.scripts).filter((s) => !hooks.includes(s) && !new RegExp(`npm (run (-s )?)?${s}(?![\\w:-])|\`${s}\``).test(README));
  assert.deepEqual(unnamed, [], `package.json scripts README.md does not name (as npm run <script>):\n${lines(unnamed)}`);
});

test('npm: every `npm run <script>` (and npm start/test) named in README.md and docs/ is a script of package.json', () => {
  const scripts = Object.keys(pkg.scripts);
  const bad: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    for (const m of text.matchAll(/\bnpm (?:run(?: -s)? ([a-z][\w:-]*)|(start|test)\b)/g)) {
      const script = m[1] ?? m[2];
      if (!scripts.includes(script)) bad.push(`${file}: npm run ${script}`);
    }
  }
  assert.deepEqual(uniq(bad), [], `npm scripts named in the docs that package.json does not have:\n${lines(uniq(bad))}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 6. Cross-references: a link or a cited section ("docs/OPERATIONS.md, \"Memory\"") leads somewhere.

/** A file's headings, outside fenced code blocks. */
function headings(text: string): string[] {
  let fenced = false;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && line.match(/^#+ (.*)/);
    if (m) out.push(m[1]);
  }
  return out;
}

/** GitHub's anchor for a heading. */
const slug = (heading: string): string =>
  heading.toLowerCase().replace(/&[a-z]+;/g, '').replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');

test('links: every relative link and anchor of README.md and docs/ resolves, and every cited section exists', () => {
  const broken: string[] = [];
  for (const [file, text] of Object.entries(ALL_DOCS)) {
    const base = new URL(file, `file://${ROOT}`);
    for (const [, href] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(href)) continue; // http(s), mailto
      const [path, anchor] = href.split('#');
      const target = path === '' ? file : fileURLToPath(new URL(path, base)).slice(ROOT.length);
      if (!existsSync(`${ROOT}${target}`)) broken.push(`${file}: (${href}): no file ${target}`);
      else if (anchor !== undefined && target.endsWith('.md') && !headings(ALL_DOCS[target] ?? read(target)).map(slug).includes(anchor)) {
        broken.push(`${file}: (${href}): no heading #${anchor} in ${target}`);
      }
    }
    // Sections cited by title: docs/OPERATIONS.md, "Memory" / docs/OPERATIONS.md ("Memory") / BENCHMARKS.md "Heap growth".
    for (const m of text.matchAll(/((?:docs\/)?[A-Z]+\.md),? \(?"([^"]+)"/g)) {
      const target = m[1].startsWith('docs/') || m[1] === 'README.md' ? m[1] : `docs/${m[1]}`;
      const title = m[2].replace(/\s+/g, ' ').toLowerCase();
      if (ALL_DOCS[target] === undefined) broken.push(`${file}: ${m[1]}: no such doc`);
      else if (!headings(ALL_DOCS[target]).some((h) => h.toLowerCase().includes(title))) broken.push(`${file}: ${m[1]}, "${m[2]}": no such heading in ${target}`);
    }
  }
  assert.deepEqual(uniq(broken), [], `links and cited sections that lead nowhere:\n${lines(uniq(broken))}`);
});
