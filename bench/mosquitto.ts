/**
 * What a user builds by hand with off-the-shelf parts: Debian's Mosquitto plus one mqtt.js subscriber process that
 * JSON-parses every reading and keeps the same windows in memory (bench/mosquitto-sub.ts) — nothing durable, no
 * dedupe. Twice: Mosquitto's defaults, and tuned as a competent user would (max_inflight_messages 1000,
 * max_queued_messages 1000000). Under the same load generator as Thermostream, interleaved with Thermostream runs
 * in one script, at QoS 0 and QoS 1. Reported: readings/s received by the subscriber, and how many readings each
 * loses — at QoS 1, acknowledged by the broker to the generator but never received by the subscriber.
 *
 *   npm run bench -- mosquitto [--runs 3] [--count 300000] [--qos 0,1] [--variants default,tuned] ...
 *
 * Mosquitto is found at $MOSQUITTO, else /usr/sbin/mosquitto, else on PATH. Each run starts its own broker on an
 * ephemeral loopback port with a temp config, and its own subscriber; RSS and CPU are the two processes' sums.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COMMON_DEFAULTS,
  COMMON_HELP,
  commonFlags,
  fmtInt,
  fmtMB,
  fmtPct,
  fmtRatio,
  machine,
  median,
  parseFlags,
  REPO,
  runHosted,
  table,
  UsageError,
  type CommonOptions,
} from './harness.ts';
import { describeRun, measure, SCENARIOS, type RunResult } from './ingest.ts';

const SUBSCRIBER = join(REPO, 'bench/mosquitto-sub.ts');

export const VARIANTS = {
  default: { label: "Mosquitto defaults + subscriber", config: [] as string[] },
  tuned: { label: 'Mosquitto tuned + subscriber', config: ['max_inflight_messages 1000', 'max_queued_messages 1000000'] },
};
type Variant = keyof typeof VARIANTS;

interface Options extends CommonOptions {
  qos: (0 | 1)[];
  variants: Variant[];
}

/** The mosquitto binary, or null. */
export function findMosquitto(): string | null {
  if (process.env.MOSQUITTO) return existsSync(process.env.MOSQUITTO) ? process.env.MOSQUITTO : null;
  if (existsSync('/usr/sbin/mosquitto')) return '/usr/sbin/mosquitto';
  const which = spawnSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : null;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Resolves once something accepts TCP connections on the port; bounded to `ms`. */
export async function waitListening(port: number, ms: number, proc: ChildProcess): Promise<void> {
  const until = Date.now() + ms;
  for (let i = 0; Date.now() < until; i++) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited with code ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on port ${port} within ${ms} ms`);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stop(p: ChildProcess, graceMs = 5_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/** One run (in the server host's process): a fresh Mosquitto and subscriber, measured under the generator. */
export async function runMosquitto(qos: 0 | 1, variant: Variant, round: number, opts: CommonOptions): Promise<RunResult> {
  const bin = findMosquitto();
  if (bin === null) throw new Error('mosquitto not found (apt-get install mosquitto, or set MOSQUITTO=/path/to/mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-bench-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', ...VARIANTS[variant].config, ''].join('\n'));
  const broker = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  let sub: ChildProcess | null = null;
  try {
    await waitListening(port, 10_000, broker);
    sub = fork(SUBSCRIBER, [JSON.stringify({ port, qos })], { cwd: REPO, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const statsUrl = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('subscriber: not ready within 30 s')), 30_000);
      sub!.once('message', (m: { statsUrl: string }) => (clearTimeout(t), resolve(m.statsUrl)));
      sub!.once('exit', (code) => reject(new Error(`subscriber exited with code ${code}`)));
    });
    return await measure(`mosq-${variant}-qos${qos}`, round, opts, qos, { host: '127.0.0.1', mqttPort: port, statsUrl }, 'bench-', {
      pids: [broker.pid!, sub.pid!],
      spec: { stallMs: 3_000 },
    });
  } finally {
    if (sub) await stop(sub);
    await stop(broker);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Readings/s received (Mosquitto: up to the subscriber's last receipt; Thermostream: processed end to end). */
export function receivedRate(r: RunResult): number {
  const f = r.final;
  if (f?.lastReceivedAt !== undefined) {
    return Number.isFinite(f.lastReceivedAt) ? f.records / ((f.lastReceivedAt - r.load.firstPublishAt) / 1000) : 0;
  }
  return r.problems.length === 0 ? r.e2eRate : NaN;
}

/** Readings the broker took responsibility for (QoS 1: acknowledged; QoS 0: sent) that never reached the results. */
export function lostOf(r: RunResult): number {
  return Math.max(0, r.load.acked - (r.final?.records ?? 0));
}

function parseOptions(args: readonly string[]): Options {
  return parseFlags<Options>(args, { ...COMMON_DEFAULTS, qos: [0, 1], variants: ['default', 'tuned'] }, {
    ...(commonFlags as Record<string, (v: string, o: Options) => void>),
    '--qos': (v, o) => {
      const q = v.split(',').map((x) => Number(x));
      if (q.length === 0 || q.some((x) => x !== 0 && x !== 1)) throw new UsageError(`--qos must list 0 and/or 1, got ${JSON.stringify(v)}`);
      o.qos = q as (0 | 1)[];
    },
    '--variants': (v, o) => {
      const names = v.split(',');
      for (const n of names) if (!(n in VARIANTS)) throw new UsageError(`unknown variant ${JSON.stringify(n)}; known: ${Object.keys(VARIANTS).join(', ')}`);
      o.variants = names as Variant[];
    },
  });
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(`npm run bench -- mosquitto [options]\n\n  --qos LIST          0,1 (default both)\n  --variants LIST     default,tuned (default both)\n${COMMON_HELP}`);
    return 0;
  }
  const opts = parseOptions(args);
  const bin = findMosquitto();
  if (bin === null) {
    console.error('bench mosquitto: mosquitto is not installed (Debian: apt-get install mosquitto), or set MOSQUITTO=/path/to/mosquitto');
    return 2;
  }
  const version = spawnSync(bin, ['-h'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const ts = { ...opts, dataRoot: tmpdir() };
  console.log(`mosquitto: ${machine()}; ${version} (${bin})`);
  console.log(
    `mosquitto: ${fmtInt(opts.count)} readings per run over ${opts.connections} connections (QoS 1 window ${opts.window}), ${opts.runs} interleaved rounds; ` +
      `Thermostream vs Mosquitto (${opts.variants.join(', ')}) + one mqtt.js subscriber`,
  );
  const runs = new Map<string, RunResult[]>();
  const push = (k: string, r: RunResult): void => void (runs.get(k) ?? runs.set(k, []).get(k)!).push(r);
  for (let round = 1; round <= opts.runs; round++) {
    for (const qos of opts.qos) {
      const s = SCENARIOS.find((x) => x.name === `qos${qos}`)!;
      const r = await runHosted<RunResult>({ kind: 'thermostream', scenario: s.name, round, opts: ts });
      push(`ts-qos${qos}`, r);
      console.log(describeRun(r));
      for (const v of opts.variants) {
        const m = await runHosted<RunResult>({ kind: 'mosquitto', qos, tuned: v === 'tuned', round, opts });
        push(`${v}-qos${qos}`, m);
        console.log(describeMosquitto(m));
      }
    }
  }
  const rows: string[][] = [];
  const ratios: string[][] = [];
  for (const qos of opts.qos) {
    const t = runs.get(`ts-qos${qos}`)!;
    const tRate = median(t.map(receivedRate));
    rows.push(row(`Thermostream, QoS ${qos}${qos === 1 ? ' durable' : ''}`, t));
    for (const v of opts.variants) {
      const m = runs.get(`${v}-qos${qos}`)!;
      rows.push(row(`${VARIANTS[v].label}, QoS ${qos}`, m));
      ratios.push([`QoS ${qos}: Thermostream / ${VARIANTS[v].label}`, fmtRatio(tRate / median(m.map(receivedRate)))]);
    }
  }
  console.log();
  console.log(
    table(['scenario', 'runs', 'received /s (median)', 'runs (received /s)', `${'acked by broker'} (median)`, 'received (median)', 'lost after ack (median)', 'peak RSS', 'CPU'], rows),
  );
  console.log('(QoS 0: "acked by broker" = written to the broker\'s socket. Mosquitto\'s RSS and CPU: broker + subscriber.)');
  console.log();
  console.log(table(['ratio of medians, same script', 'received /s'], ratios));
  console.log();
  console.log(`reproduce: npm run bench -- mosquitto ${args.join(' ')}`.trimEnd());
  const failed = [...runs.entries()].filter(([k]) => k.startsWith('ts-')).flatMap(([, v]) => v).filter((r) => r.problems.length > 0);
  if (failed.length > 0) {
    console.error(`\nmosquitto: ${failed.length} Thermostream run(s) FAILED:`);
    for (const r of failed) console.error(`  ${r.target} #${r.round}: ${r.problems.join('; ')}`);
    return 1;
  }
  return 0;
}

function row(label: string, rs: RunResult[]): string[] {
  const lost = rs.map(lostOf);
  const acked = rs.map((r) => r.load.acked);
  return [
    label,
    String(rs.length),
    fmtInt(median(rs.map(receivedRate))),
    rs.map((r) => fmtInt(receivedRate(r))).join(' / '),
    fmtInt(median(acked)),
    fmtInt(median(rs.map((r) => r.final?.records ?? 0))),
    `${fmtInt(median(lost))} (${fmtPct(median(lost) / median(acked))})`,
    fmtMB(Math.max(...rs.map((r) => r.peakRss))),
    fmtPct(median(rs.map((r) => r.serverCpu))),
  ];
}

function describeMosquitto(r: RunResult): string {
  const gen = r.load.errors.length > 0 ? ` — generator: ${r.load.errors.slice(0, 3).join('; ')}` : '';
  return (
    `  ${r.target.padEnd(14)} #${r.round}  ${fmtInt(receivedRate(r)).padStart(9)}/s received; sent ${fmtInt(r.load.sent)}, acked ${fmtInt(r.load.acked)}, ` +
    `received ${fmtInt(r.final?.records ?? 0)}, lost ${fmtInt(lostOf(r))}; RSS ${fmtMB(r.peakRss)} (broker + subscriber), CPU ${fmtPct(r.serverCpu)}, ` +
    `generator CPU ${fmtPct(r.loadgenCpu)} (${r.load.outcome})${gen}`
  );
}
