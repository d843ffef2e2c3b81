/**
 * End-to-end ingest throughput through the real server.
 *
 * Each run gets a fresh server process (bench/server-host.ts) that starts Thermostream in-process with
 * startThermostream(resolveConfig(...)), as an embedding user would; the load generator runs in a process of its own
 * (bench/loadgen.ts, forked by the host), so on a 2-core machine the server's event loop has one core and the
 * generator the other. This process only orchestrates and is idle during runs. A run is timed from the generator's first publish until
 * GET /api/v1/stats shows every reading processed by the engine (`records` = readings sent, `backlog` = 0), and it
 * fails loudly unless records = accepted = sent with no duplicate, rejection or lateness.
 *
 *   npm run bench -- ingest [--scenarios qos0,qos1,qos1-nofsync] [--runs 3] [--count 300000] ...
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type WindowSpec } from '../server/config.ts';
import { applyHeapGrowth } from '../server/heap.ts';
import {
  COMMON_DEFAULTS,
  COMMON_HELP,
  bundledServer,
  commonFlags,
  fmtInt,
  fmtMB,
  fmtPct,
  fmtRatio,
  LoadGenerator,
  runHosted,
  SERVER_NODE_FLAGS,
  machine,
  median,
  parseFlags,
  ProcSampler,
  RssSampler,
  table,
  UsageError,
  type CommonOptions,
  type LoadResult,
} from './harness.ts';
import type { LoadSpec, ServerStats } from './protocol.ts';

export interface Scenario {
  name: string;
  label: string;
  qos: 0 | 1;
  fsync: boolean;
  /** config.batchThread; absent: --batch-thread (default worker). */
  batchThread?: 'worker' | 'main';
  /** config.blockIntervalMs; absent: --block-interval (default: the configuration's). */
  blockIntervalMs?: number;
  /** config.heapGrowthPercent; absent: --heap-growth (default: the configuration's). */
  heapGrowthPercent?: number;
  /** Node flags of the server's process; absent: --node-flags (default: those of `npm start`). */
  nodeFlags?: string[];
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'qos0', label: 'QoS 0, durable log (fsync on)', qos: 0, fsync: true },
  { name: 'qos1', label: 'QoS 1, durable log (fsync on, default)', qos: 1, fsync: true },
  { name: 'qos1-nofsync', label: 'QoS 1, ingest.fsync: false', qos: 1, fsync: false },
  // Not run by default: a diagnostic (does QoS 0 wait for the group commit?).
  { name: 'qos0-nofsync', label: 'QoS 0, ingest.fsync: false', qos: 0, fsync: false },
  // Before/after the batch thread: the same with batch work on the main thread (batchThread "main").
  { name: 'qos0-main', label: 'QoS 0, durable log, batchThread main', qos: 0, fsync: true, batchThread: 'main' },
  { name: 'qos1-main', label: 'QoS 1, durable log, batchThread main', qos: 1, fsync: true, batchThread: 'main' },
  // Before/after blocks: a batch's work all at its time (blockIntervalMs 0).
  { name: 'qos0-noblocks', label: 'QoS 0, durable log, blockIntervalMs 0', qos: 0, fsync: true, blockIntervalMs: 0 },
  { name: 'qos1-noblocks', label: 'QoS 1, durable log, blockIntervalMs 0', qos: 1, fsync: true, blockIntervalMs: 0 },
  // Before/after bounded heap growth: V8's own (heapGrowthPercent 0).
  { name: 'qos0-v8heap', label: "QoS 0, durable log, V8's own heap growth", qos: 0, fsync: true, heapGrowthPercent: 0 },
  { name: 'qos1-v8heap', label: "QoS 1, durable log, V8's own heap growth", qos: 1, fsync: true, heapGrowthPercent: 0 },
  // Before/after the bounded young generation of `npm start` (--max-semi-space-size=4): V8's own (16 MB semi-spaces).
  { name: 'qos0-v8young', label: "QoS 0, durable log, V8's own young generation", qos: 0, fsync: true, nodeFlags: [] },
  { name: 'qos1-v8young', label: "QoS 1, durable log, V8's own young generation", qos: 1, fsync: true, nodeFlags: [] },
];
const DEFAULT_SCENARIOS = ['qos0', 'qos1', 'qos1-nofsync'];

export interface IngestOptions extends CommonOptions {
  scenarios: string[];
  dataRoot: string;
  json: string | null;
}

/** One measured run. Rates are readings per second from the first publish. */
export interface RunResult {
  target: string;
  round: number;
  count: number;
  /** First publish → engine has processed everything (the headline figure). */
  e2eRate: number;
  /** First publish → ingest has accepted everything (polled). */
  acceptRate: number;
  /** First publish → last PUBACK (QoS 1) / last byte written (QoS 0). */
  ackRate: number;
  peakRss: number;
  /** CPU of the server's process over the run / wall time (1.0 = one core). */
  serverCpu: number;
  loadgenCpu: number;
  maxBatch: LoadResult['maxBatch'];
  final: ServerStats | null;
  problems: string[];
  load: LoadResult;
}

export const USAGE = `npm run bench -- ingest [options]

  --scenarios LIST    comma-separated, of: ${SCENARIOS.map((s) => s.name).join(', ')} (default: ${DEFAULT_SCENARIOS.join(',')})
${COMMON_HELP}
  --data-root DIR     where the temp data dirs go (default ${tmpdir()}; must be a real disk for fsync to mean anything)
  --json FILE         also write every run's raw figures to FILE`;

export function parseIngestArgs(args: readonly string[]): IngestOptions {
  const defaults: IngestOptions = { ...COMMON_DEFAULTS, scenarios: DEFAULT_SCENARIOS, dataRoot: tmpdir(), json: null };
  return parseFlags<IngestOptions>(args, defaults, {
    ...(commonFlags as Record<string, (v: string, o: IngestOptions) => void>),
    '--scenarios': (v, o) => {
      const names = v.split(',').filter(Boolean);
      for (const n of names) {
        if (!SCENARIOS.some((s) => s.name === n)) throw new UsageError(`unknown scenario ${JSON.stringify(n)}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
      }
      o.scenarios = names;
    },
    '--data-root': (v, o) => (o.dataRoot = v),
    '--json': (v, o) => (o.json = v),
  });
}

/** What a run can add to the generator's spec, and whose memory and CPU count (default: this process). */
export interface MeasureExtras {
  spec?: Partial<Pick<LoadSpec, 'ratePerSec' | 'latency' | 'connectBatch' | 'stallMs'>>;
  /** The server under test is these processes (Mosquitto and its subscriber), not this one. */
  pids?: readonly number[];
  /** Called once every connection is up, before the first publish (bench/memory.ts: the idle phase). */
  beforeGo?: () => Promise<void>;
  /** Called once the generator reported, before it disconnects (bench/memory.ts: the loaded figures). */
  afterDone?: () => Promise<void>;
}

/** Drives the load generator against an MQTT port and measures the run in this (the server's) process. */
export async function measure(
  target: string,
  round: number,
  opts: CommonOptions,
  qos: 0 | 1,
  endpoint: { host: string; mqttPort: number; statsUrl: string },
  idPrefix = 'bench-',
  extras: MeasureExtras = {},
): Promise<RunResult> {
  const gen = new LoadGenerator({
    ...endpoint,
    connections: opts.connections,
    count: opts.count,
    qos,
    window: opts.window,
    client: opts.client,
    pollMs: opts.pollMs,
    timeLimitMs: opts.timeLimitMs,
    stallMs: 5_000,
    idPrefix,
    ...opts.spec,
    ...extras.spec,
  });
  try {
    await gen.next(opts.timeLimitMs); // ready: connected, packets built
    await extras.beforeGo?.();
    const rss = new RssSampler();
    const procs = extras.pids ? new ProcSampler(extras.pids) : null;
    const cpu0 = process.cpuUsage();
    const goUs = Number(process.hrtime.bigint() / 1000n);
    gen.send({ type: 'go' });
    const m = await gen.next(opts.timeLimitMs + 30_000);
    const cpu = process.cpuUsage(cpu0);
    // bench/profile.ts: the measured window, on the clock the CPU profiler stamps samples with.
    const marks = process.env.BENCH_PROFILE_MARKS;
    if (marks) writeFileSync(marks, JSON.stringify({ startUs: goUs, endUs: Number(process.hrtime.bigint() / 1000n) }));
    const own = rss.stop();
    const other = procs?.stop();
    const peakRss = other ? other.peakRss : own;
    if (m.type !== 'done') throw new Error(`load generator: unexpected message ${m.type}`);
    await extras.afterDone?.();
    const r = m.result;
    const span = (t: number): number => (Number.isFinite(t) ? r.count / ((t - r.firstPublishAt) / 1000) : NaN);
    const wallMs = Math.max(1, r.wallMs);
    const serverCpuMs = other ? other.cpuMs : (cpu.user + cpu.system) / 1000;
    return {
      target,
      round,
      count: r.count,
      e2eRate: span(r.processedAt),
      acceptRate: span(r.acceptedAt),
      ackRate: qos === 1 ? span(r.lastAckAt) : NaN, // QoS 0 has no acks; socket writes finish into kernel buffers
      peakRss,
      serverCpu: serverCpuMs / wallMs,
      loadgenCpu: r.cpuMs / wallMs,
      maxBatch: r.maxBatch,
      final: r.final,
      problems: problemsOf(r),
      load: r,
    };
  } finally {
    await gen.close();
  }
}

/** Everything that makes a run not count: any reading lost, duplicated, rejected or late, or a run cut short. */
export function problemsOf(r: LoadResult): string[] {
  const p: string[] = [];
  const f = r.final;
  if (r.outcome !== 'complete') p.push(`run ${r.outcome}`);
  if (r.sent !== r.count) p.push(`sent ${r.sent} of ${r.count}`);
  if (r.acked !== r.count) p.push(`acknowledged ${r.acked} of ${r.count}`);
  if (f === null) p.push('no stats from the server');
  else {
    if (f.records !== r.count) p.push(`LOST: engine processed ${f.records} readings, ${r.count} were sent`);
    if (f.accepted !== r.count) p.push(`ingest accepted ${f.accepted}, ${r.count} were sent`);
    if (f.backlog !== 0) p.push(`backlog ${f.backlog} left`);
    if (f.duplicates) p.push(`${f.duplicates} counted as duplicates`);
    if (f.late) p.push(`${f.late} late`);
    if (f.rejected && f.rejected.total > 0) p.push(`${f.rejected.total} rejected ${JSON.stringify(f.rejected.byReason)}`);
  }
  // A stats poll that failed once in a run that completed is the machine being busy, not the server losing data.
  for (const e of r.errors) if (!(r.outcome === 'complete' && e.startsWith('stats: '))) p.push(`load generator: ${e}`);
  return p;
}

/** One run of one scenario against a fresh Thermostream with a fresh data dir. */
export async function runThermostream(
  s: Scenario,
  round: number,
  opts: CommonOptions & { dataRoot: string; batchIntervalMs?: number; openWindowRefresh?: 'slide' | 'batch' | 'final'; windows?: WindowSpec[] },
  extras: (app: { httpUrl: string }) => MeasureExtras = () => ({}),
): Promise<RunResult> {
  const dataDir = mkdtempSync(join(opts.dataRoot, 'thermostream-bench-'));
  try {
    const config = resolveConfig({
      host: '127.0.0.1',
      http: { port: 0 },
      mqtt: { port: 0, tlsPort: -1 },
      dataDir,
      batchIntervalMs: opts.batchIntervalMs ?? 1000,
      ingest: { fsync: s.fsync },
      batchThread: s.batchThread ?? opts.batchThread ?? 'worker',
      ...((s.blockIntervalMs ?? opts.blockIntervalMs) !== null && { blockIntervalMs: s.blockIntervalMs ?? opts.blockIntervalMs }),
      ...((s.heapGrowthPercent ?? opts.heapGrowthPercent) !== null && { heapGrowthPercent: s.heapGrowthPercent ?? opts.heapGrowthPercent }),
      ...(opts.openWindowRefresh && { openWindowRefresh: opts.openWindowRefresh }),
      ...(opts.windows && { windows: opts.windows }),
    });
    // This process runs the server as `thermostream` would (a fresh process per run: the setting is not undone).
    applyHeapGrowth(config.heapGrowthPercent);
    const { startThermostream } = await bundledServer();
    const app = await startThermostream(config, {
      onFatal(err) {
        console.error(`bench: server fatal error: ${err.message}`);
        process.exit(1);
      },
    });
    try {
      const port = Number(new URL(app.mqttUrl).port);
      return await measure(s.name, round, opts, s.qos, { host: '127.0.0.1', mqttPort: port, statsUrl: `${app.httpUrl}/api/v1/stats` }, 'bench-', extras(app));
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function describeRun(r: RunResult): string {
  const split = r.maxBatch?.jobMs === undefined ? '' : ` (job ${r.maxBatch.jobMs} ms, commit ${r.maxBatch.commitMs} ms)`;
  const mb = r.maxBatch ? `, slowest batch ${r.maxBatch.processingMs} ms for ${fmtInt(r.maxBatch.records)} readings${split}` : '';
  const status = r.problems.length === 0 ? 'ok' : `FAILED: ${r.problems.join('; ')}`;
  return (
    `  ${r.target.padEnd(14)} #${r.round}  ${fmtInt(r.e2eRate).padStart(9)}/s end to end, ${fmtInt(r.acceptRate)}/s accepted, ` +
    `${fmtInt(r.ackRate)}/s acked; RSS ${fmtMB(r.peakRss)}, server CPU ${fmtPct(r.serverCpu)}, generator CPU ${fmtPct(r.loadgenCpu)}${mb} — ${status}`
  );
}

export interface Summary {
  target: string;
  runs: RunResult[];
  e2e: number;
  accept: number;
  ack: number;
  rss: number;
  processingMs: number;
  batchRecords: number;
  serverCpu: number;
  loadgenCpu: number;
}

export function summarise(target: string, runs: RunResult[]): Summary {
  const ok = runs.filter((r) => r.problems.length === 0);
  const withBatch = ok.filter((r) => r.maxBatch !== null);
  return {
    target,
    runs,
    e2e: median(ok.map((r) => r.e2eRate)),
    accept: median(ok.map((r) => r.acceptRate)),
    ack: median(ok.map((r) => r.ackRate)),
    rss: Math.max(...ok.map((r) => r.peakRss)),
    processingMs: median(withBatch.map((r) => r.maxBatch!.processingMs)),
    batchRecords: median(withBatch.map((r) => r.maxBatch!.records)),
    serverCpu: median(ok.map((r) => r.serverCpu)),
    loadgenCpu: median(ok.map((r) => r.loadgenCpu)),
  };
}

export function summaryTable(rows: readonly { label: string; s: Summary }[]): string {
  return table(
    ['scenario', 'runs ok', 'end to end /s (median)', 'accepted /s', 'acked /s', 'peak RSS', 'slowest batch (ms / readings)', 'server CPU', 'generator CPU'],
    rows.map(({ label, s }) => [
      label,
      `${s.runs.filter((r) => r.problems.length === 0).length}/${s.runs.length}`,
      fmtInt(s.e2e),
      fmtInt(s.accept),
      fmtInt(s.ack),
      fmtMB(s.rss),
      Number.isFinite(s.processingMs) ? `${fmtInt(s.processingMs)} / ${fmtInt(s.batchRecords)}` : '—',
      fmtPct(s.serverCpu),
      fmtPct(s.loadgenCpu),
    ]),
  );
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const opts = parseIngestArgs(args);
  const scenarios = SCENARIOS.filter((s) => opts.scenarios.includes(s.name));
  console.log(`ingest: ${machine()}`);
  console.log(
    `ingest: ${fmtInt(opts.count)} readings per run over ${opts.connections} connections (${opts.client} client, QoS 1 window ${opts.window}), ` +
      `${opts.runs} interleaved runs per scenario, data under ${opts.dataRoot}; a fresh server process per run, load generator in its own process; ` +
      `Thermostream's node flags: ${(opts.nodeFlags ?? SERVER_NODE_FLAGS).join(' ') || 'none'} (scenarios *-v8young: none)`,
  );
  const results = new Map<string, RunResult[]>(scenarios.map((s) => [s.name, []]));
  for (let round = 1; round <= opts.runs; round++) {
    for (const s of scenarios) {
      const r = await runHosted<RunResult>({ kind: 'thermostream', scenario: s.name, round, opts }, s.nodeFlags ?? opts.nodeFlags);
      results.get(s.name)!.push(r);
      console.log(describeRun(r));
    }
  }
  const sums = scenarios.map((s) => ({ label: s.label, s: summarise(s.name, results.get(s.name)!) }));
  console.log();
  console.log(summaryTable(sums));
  const by = (n: string): Summary | undefined => sums.find((x) => x.s.target === n)?.s;
  const q0 = by('qos0');
  const q1 = by('qos1');
  const nf = by('qos1-nofsync');
  console.log();
  if (q1 && nf) {
    console.log(`durable / non-durable (QoS 1, medians, end to end): ${fmtRatio(q1.e2e / nf.e2e)}   (accepted: ${fmtRatio(q1.accept / nf.accept)}, acked: ${fmtRatio(q1.ack / nf.ack)})`);
  }
  if (q0) console.log(`QoS 0 against the budget of 150,000/s: ${fmtRatio(q0.e2e / 150_000)} × (${q0.e2e >= 150_000 ? 'met' : 'NOT met'})`);
  if (q1) console.log(`QoS 1 durable against the budget of 100,000/s: ${fmtRatio(q1.e2e / 100_000)} × (${q1.e2e >= 100_000 ? 'met' : 'NOT met'})`);
  console.log();
  console.log(`reproduce: npm run bench -- ingest ${args.join(' ')}`.trimEnd());
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ machine: machine(), options: opts, results: Object.fromEntries(results) }, null, 2));
    console.log(`raw figures: ${opts.json}`);
  }
  const failed = [...results.values()].flat().filter((r) => r.problems.length > 0);
  if (failed.length > 0) {
    console.error(`\ningest: ${failed.length} run(s) FAILED — readings lost, duplicated, rejected or not processed in time:`);
    for (const r of failed) console.error(`  ${r.target} #${r.round}: ${r.problems.join('; ')}`);
    return 1;
  }
  return 0;
}
