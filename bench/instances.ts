/**
 * Scale-out on one machine: 1 against 2 Thermostream instance processes behind one Mosquitto, each instance
 * subscribed to all telemetry and keeping the devices rendezvous hashing gives it (cluster.instances), each with its
 * own SQLite store for now. Same load generator as `bench -- mosquitto` (raw sockets, QoS 1 window per connection),
 * interleaved runs, medians. Reported: readings/s processed end to end (the sum over the instances), nothing lost.
 *
 *   npm run bench -- instances [--store sqlite,postgres] [--instances 1,2] [--qos 1] [--batch-ms 1000]
 *                              [--ack-after-commit true|false] [--subscribe all,owned] [--mosquitto tuned] ...
 *
 * `--store postgres`: one PostgreSQL per script (started as the tests start it, test/postgres.ts), a fresh database
 * per run shared by that run's instances (store.url, so broker.ackAfterCommit is on unless `--ack-after-commit
 * false`); its CPU (postmaster and its children) is reported apart. `--subscribe owned`: each instance subscribes to
 * the exact telemetry topics of the devices rendezvous hashing gives it instead of `devices/+/telemetry`, so
 * Mosquitto sends each message once (possible here because the bench knows its device ids).
 *
 * The same script measures acknowledge-after-commit per subscription: `--instances 1 --ack-after-commit --mosquitto
 * default,tuned,unlimited --batch-ms 1000,200` (one instance, one subscription; Mosquitto's in-flight window is then
 * what one batch can carry).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPartition } from '../server/cluster/partition.ts';
import { startPostgres, type RunningPostgres } from '../test/postgres.ts';
import { COMMON_DEFAULTS, COMMON_HELP, commonFlags, fmtInt, fmtMB, fmtPct, fmtRatio, machine, median, parseFlags, REPO, SERVER_BUNDLE, SERVER_NODE_FLAGS, table, UsageError, type CommonOptions } from './harness.ts';
import { measure, type RunResult } from './ingest.ts';
import { findMosquitto, freePort, lostOf, stop, waitListening } from './mosquitto.ts';

const MOSQUITTO = {
  default: [] as string[],
  tuned: ['max_inflight_messages 1000', 'max_queued_messages 1000000'],
  unlimited: ['max_inflight_messages 0', 'max_queued_messages 0'],
};
type MosquittoVariant = keyof typeof MOSQUITTO;
type StoreKind = 'sqlite' | 'postgres';
/** all: every instance subscribes to all telemetry and drops others' devices; owned: only its own devices' topics. */
type Subscribe = 'all' | 'owned';
const ackOf = (store: StoreKind, opts: Options): boolean => opts.ackAfterCommit ?? store === 'postgres';

interface Options extends CommonOptions {
  instances: number[];
  qos: (0 | 1)[];
  batchMs: number[];
  /** broker.ackAfterCommit of each instance (null: the config's default, on with a shared store). */
  ackAfterCommit: boolean | null;
  store: StoreKind[];
  subscribe: Subscribe[];
  mosquitto: MosquittoVariant[];
  /** broker.maxPending of each instance (null: its default). */
  maxPending: number | null;
}

/** One instance process; resolves with its HTTP URL once it has printed its endpoints. */
async function startInstance(dir: string, brokerUrl: string, ids: string[], i: number, s: Scenario, storeUrl: string, opts: Options): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const configFile = join(dir, `instance-${i}.json`);
  const broker: Record<string, unknown> = opts.maxPending === null ? {} : { maxPending: opts.maxPending };
  if (s.subscribe === 'owned') {
    // The load generator's device ids (bench-0000…): this instance's share by the same rendezvous hashing it applies.
    const partition = createPartition(ids, ids[i]);
    const devices = Array.from({ length: opts.connections }, (_, k) => `bench-${String(k).padStart(4, '0')}`);
    broker.topics = devices.filter((d) => partition.owns(d)).map((d) => `devices/${d}/telemetry`);
  }
  writeFileSync(configFile, JSON.stringify({ broker }));
  const args = [
    ...(opts.nodeFlags ?? SERVER_NODE_FLAGS), SERVER_BUNDLE,
    '--config', configFile,
    '--data-dir', join(dir, `instance-${i}`),
    '--http-port', String(port),
    '--broker', brokerUrl,
    '--broker-client-id', `bench-${ids[i]}`,
    '--instance-id', ids[i],
    '--cluster-instances', ids.join(','),
    '--batch-interval', String(s.batchMs),
    ...(storeUrl === '' ? [] : ['--store', storeUrl]),
    ...(opts.ackAfterCommit === null ? [] : [`--broker-ack-after-commit=${opts.ackAfterCommit}`]),
  ];
  const proc = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const until = Date.now() + 30_000;
  while (!out.includes('thermostream: data')) {
    if (proc.exitCode !== null || Date.now() > until) throw new Error(`instance ${ids[i]} did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** GET → the instances' stats summed, in the shape the load generator polls (records, accepted, backlog…). */
async function startAggregator(urls: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer(async (_req, res) => {
    try {
      const all = await Promise.all(urls.map(async (u) => (await fetch(`${u}/api/v1/stats`)).json()));
      const sum = (f: (s: any) => number) => all.reduce((n, s) => n + f(s), 0);
      const byReason: Record<string, number> = {};
      for (const s of all) for (const [k, v] of Object.entries(s.rejected.byReason as Record<string, number>)) byReason[k] = (byReason[k] ?? 0) + v;
      res.end(
        JSON.stringify({
          records: sum((s) => s.records),
          accepted: sum((s) => s.accepted),
          backlog: sum((s) => s.backlog),
          duplicates: sum((s) => s.duplicates),
          late: sum((s) => s.late),
          heldAcks: sum((s) => s.heldAcks),
          rejected: { total: sum((s) => s.rejected.total), byReason },
        }),
      );
    } catch (err) {
      res.statusCode = 503;
      res.end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Scenario {
  store: StoreKind;
  subscribe: Subscribe;
  instances: number;
  qos: 0 | 1;
  batchMs: number;
  mosquitto: MosquittoVariant;
}
const storeName = (k: StoreKind): string => (k === 'sqlite' ? 'SQLite' : 'PostgreSQL');
const keyOf = (s: Scenario): string =>
  `${storeName(s.store)}, ${s.instances} instance(s)${s.subscribe === 'owned' ? ' (own topics)' : ''}, QoS ${s.qos}, batch ${s.batchMs} ms, Mosquitto ${s.mosquitto}`;

/** CPU time (ms) of a PostgreSQL server so far: the postmaster with its reaped children, and its live children. */
function pgCpuMs(postmaster: number): number {
  const ticks = (pid: string, withChildren: boolean): [ppid: number, ticks: number] => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      const own = Number(f[11]) + Number(f[12]);
      return [Number(f[1]), withChildren ? own + Number(f[13]) + Number(f[14]) : own];
    } catch {
      return [-1, 0];
    }
  };
  let total = ticks(String(postmaster), true)[1];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const [ppid, t] = ticks(pid, false);
    if (ppid === postmaster) total += t;
  }
  return total * 10;
}

interface Pg {
  server: RunningPostgres;
  postmaster: number;
}

type Run = RunResult & { pgCpuMs: number | null };

async function runOnce(s: Scenario, round: number, opts: Options, pgs: Pg | null): Promise<Run> {
  const bin = findMosquitto();
  if (bin === null) throw new Error('mosquitto not found (apt-get install mosquitto, or set MOSQUITTO=/path/to/mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-bench-instances-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', ...MOSQUITTO[s.mosquitto], ''].join('\n'));
  const broker = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const instances: ChildProcess[] = [];
  let aggregator: { url: string; close(): Promise<void> } | null = null;
  const database = `bench_instances_${process.pid}_${Date.now()}`;
  let storeUrl = '';
  let pgCpu0 = 0;
  try {
    if (s.store === 'postgres') {
      if (pgs === null) throw new Error('PostgreSQL was not started');
      storeUrl = await pgs.server.createDatabase(database);
    }
    await waitListening(port, 10_000, broker);
    const ids = Array.from({ length: s.instances }, (_, i) => `bench-${i}`);
    const started = await Promise.all(ids.map((_, i) => startInstance(dir, `mqtt://127.0.0.1:${port}`, ids, i, s, storeUrl, opts)));
    instances.push(...started.map((x) => x.proc));
    aggregator = await startAggregator(started.map((x) => x.url));
    if (pgs !== null && s.store === 'postgres') pgCpu0 = pgCpuMs(pgs.postmaster);
    const r = await measure(keyOf(s), round, opts, s.qos, { host: '127.0.0.1', mqttPort: port, statsUrl: aggregator.url }, 'bench-', {
      pids: [broker.pid!, ...instances.map((p) => p.pid!)],
      spec: { stallMs: 5_000, ...opts.spec },
    });
    return { ...r, pgCpuMs: s.store === 'postgres' ? pgCpuMs(pgs!.postmaster) - pgCpu0 : null };
  } finally {
    await aggregator?.close();
    await Promise.all(instances.map((p) => stop(p, 15_000))); // an instance commits its last batch first
    await stop(broker);
    rmSync(dir, { recursive: true, force: true });
    if (storeUrl !== '') {
      const c = new pg.Client({ connectionString: pgs!.server.url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
    }
  }
}

const list = <T>(v: string, ok: (x: string) => boolean, what: string): string[] => {
  const xs = v.split(',');
  if (xs.length === 0 || !xs.every(ok)) throw new UsageError(`${what}: got ${JSON.stringify(v)}`);
  return xs as T[] & string[];
};

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(
      'npm run bench -- instances [options]\n\n  --store LIST        sqlite,postgres: each instance its own SQLite, or one shared PostgreSQL database per run (default sqlite)\n' +
        '  --instances LIST    instance processes per run (default 1,2)\n  --qos LIST          0,1 (default 1)\n' +
        '  --batch-ms LIST     batch intervals (default 1000)\n  --ack-after-commit true|false  hold PUBACKs until the commit (default: the config\'s, on with PostgreSQL)\n' +
        '  --subscribe LIST    all,owned: each instance subscribes to all telemetry, or to its own devices\' topics only (default all)\n' +
        `  --mosquitto LIST    default,tuned,unlimited (default tuned)\n  --max-pending N     broker.maxPending of each instance (default: the config's)\n  --rate N            paced load: N readings/s in total (default: as fast as acknowledged)\n${COMMON_HELP}`,
    );
    return 0;
  }
  const opts = parseFlags<Options>(args, { ...COMMON_DEFAULTS, instances: [1, 2], qos: [1], batchMs: [1000], ackAfterCommit: null, store: ['sqlite'], subscribe: ['all'], mosquitto: ['tuned'], maxPending: null }, {
    ...(commonFlags as Record<string, (v: string, o: Options) => void>),
    '--instances': (v, o) => (o.instances = list(v, (x) => /^[1-8]$/.test(x), '--instances must list 1…8').map(Number)),
    '--qos': (v, o) => (o.qos = list(v, (x) => x === '0' || x === '1', '--qos must list 0 and/or 1').map(Number) as (0 | 1)[]),
    '--batch-ms': (v, o) => (o.batchMs = list(v, (x) => /^\d+$/.test(x) && Number(x) >= 10, '--batch-ms must list intervals ≥ 10').map(Number)),
    '--ack-after-commit': (v, o) => (o.ackAfterCommit = list(v, (x) => x === 'true' || x === 'false', '--ack-after-commit must be true or false')[0] === 'true'),
    '--store': (v, o) => (o.store = list(v, (x) => x === 'sqlite' || x === 'postgres', '--store must list sqlite and/or postgres') as StoreKind[]),
    '--subscribe': (v, o) => (o.subscribe = list(v, (x) => x === 'all' || x === 'owned', '--subscribe must list all and/or owned') as Subscribe[]),
    '--max-pending': (v, o) => (o.maxPending = Number(list(v, (x) => /^\d+$/.test(x) && Number(x) > 0, '--max-pending must be a positive integer')[0])),
    '--rate': (v, o) => (o.spec = { ...o.spec, ratePerSec: Number(list(v, (x) => /^\d+$/.test(x) && Number(x) > 0, '--rate must be readings/s')[0]) }),
    '--mosquitto': (v, o) => (o.mosquitto = list(v, (x) => x in MOSQUITTO, `--mosquitto must list ${Object.keys(MOSQUITTO).join(', ')}`) as MosquittoVariant[]),
  });
  const bin = findMosquitto();
  if (bin === null) {
    console.error('bench instances: mosquitto is not installed (Debian: apt-get install mosquitto), or set MOSQUITTO=/path/to/mosquitto');
    return 2;
  }
  console.log(`instances: ${machine()}; ${spawnSync(bin, ['-h'], { encoding: 'utf8' }).stdout.split('\n')[0]}`);
  console.log(
    `instances: ${fmtInt(opts.count)} readings per run over ${opts.connections} connections (QoS 1 window ${opts.window}), ${opts.runs} interleaved rounds; ` +
      `${opts.spec?.ratePerSec ? `paced at ${fmtInt(opts.spec.ratePerSec)}/s; ` : ''}${opts.maxPending === null ? '' : `broker.maxPending ${opts.maxPending}; `}` +
      opts.store.map((k) => `${k === 'sqlite' ? 'SQLite: a store per instance' : 'PostgreSQL: one database per run shared by its instances (store.url)'}, ack after commit ${ackOf(k, opts) ? 'on' : 'off'}${opts.ackAfterCommit === null ? ' (the default)' : ''}`).join('; '),
  );
  const cleanups: (() => unknown)[] = [];
  let pgs: Pg | null = null;
  if (opts.store.includes('postgres')) {
    const server = await startPostgres({ after: (fn) => cleanups.push(fn) });
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    const backend = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const postmaster = Number(readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    await c.end();
    pgs = { server, postmaster };
    console.log(`instances: ${server.source}, fsync on, on a loopback port`);
  }
  const scenarios: Scenario[] = [];
  for (const mosquitto of opts.mosquitto) for (const qos of opts.qos) for (const batchMs of opts.batchMs) for (const store of opts.store) for (const subscribe of opts.subscribe) for (const instances of opts.instances) {
    if (subscribe === 'owned' && instances === 1 && opts.subscribe.includes('all')) continue; // one instance owns every device: the same run
    scenarios.push({ store, subscribe, instances, qos, batchMs, mosquitto });
  }
  const runs = new Map<string, Run[]>();
  try {
    for (let round = 1; round <= opts.runs; round++) {
      for (const s of scenarios) {
        const r = await runOnce(s, round, opts, pgs);
        (runs.get(keyOf(s)) ?? runs.set(keyOf(s), []).get(keyOf(s))!).push(r);
        const f = r.final;
        console.log(
          `  ${keyOf(s)} #${round}: ${fmtInt(r.e2eRate)}/s end to end; acked ${fmtInt(r.load.acked)}, processed ${fmtInt(f?.records ?? 0)}, lost ${fmtInt(lostOf(r))}; ` +
            `CPU ${fmtPct(r.serverCpu)} (broker + instances)${r.pgCpuMs === null ? '' : `, ${fmtPct(r.pgCpuMs / Math.max(1, r.load.wallMs))} (PostgreSQL)`}, RSS ${fmtMB(r.peakRss)} (${r.load.outcome})${r.problems.length ? ` — ${r.problems.join('; ')}` : ''}`,
        );
      }
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  const rows = scenarios.map((s) => {
    const rs = runs.get(keyOf(s))!;
    const processed = rs.map((r) => r.final?.records ?? 0);
    const rate = rs.map((r) => (r.problems.length === 0 ? r.e2eRate : (r.final?.records ?? 0) / Math.max(1, r.load.wallMs / 1000)));
    const pgCpu = rs.every((r) => r.pgCpuMs !== null) ? fmtPct(median(rs.map((r) => r.pgCpuMs! / Math.max(1, r.load.wallMs)))) : '—';
    return [keyOf(s), ackOf(s.store, opts) ? 'on' : 'off', fmtInt(median(rate)), rs.map((r, i) => fmtInt(rate[i]) + (r.problems.length ? '*' : '')).join(' / '), fmtInt(median(processed)), fmtInt(median(rs.map(lostOf))), fmtPct(median(rs.map((r) => r.serverCpu))), pgCpu, fmtMB(Math.max(...rs.map((r) => r.peakRss)))];
  });
  console.log();
  console.log(table(['scenario', 'ack after commit', 'readings/s (median)', 'runs', 'processed (median)', 'lost after broker ack', 'CPU (broker + instances)', 'CPU (PostgreSQL)', 'peak RSS (broker + instances)'], rows));
  console.log('(* a run that did not complete: its rate is what was processed over the run\'s wall time.)');
  const ratios: string[][] = [];
  for (const mosquitto of opts.mosquitto) for (const qos of opts.qos) for (const batchMs of opts.batchMs) for (const store of opts.store) {
    const one = runs.get(keyOf({ store, subscribe: 'all', instances: 1, qos, batchMs, mosquitto })) ?? runs.get(keyOf({ store, subscribe: 'owned', instances: 1, qos, batchMs, mosquitto }));
    for (const subscribe of opts.subscribe) for (const n of opts.instances.filter((k) => k > 1)) {
      const many = runs.get(keyOf({ store, subscribe, instances: n, qos, batchMs, mosquitto }));
      if (one && many) ratios.push([`${storeName(store)}, ${n} / 1 instances${subscribe === 'owned' ? ' (own topics)' : ''}, QoS ${qos}, batch ${batchMs} ms, Mosquitto ${mosquitto}`, fmtRatio(median(many.map((r) => r.e2eRate)) / median(one.map((r) => r.e2eRate)))]);
    }
  }
  if (ratios.length > 0) console.log(`\n${table(['ratio of medians, same script', 'readings/s'], ratios)}`);
  console.log(`\nreproduce: npm run bench -- instances ${args.join(' ')}`.trimEnd());
  return 0;
}
