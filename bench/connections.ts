/**
 * Throughput against the number of device connections: K = 10, 100 and 1,000 at QoS 0 and QoS 1 durable, each
 * interleaved with the broker's own ceiling under the same load — aedes alone in its own process counting
 * publishes, nothing parsed, nothing subscribed (bench/baseline.ts, mode 'count'). The generator opens the
 * connections in groups (`--connect-batch`, default 50).
 *
 *   npm run bench -- connections [--connections 10,100,1000] [--qos 0,1] [--runs 3] [--count 300000] [--baseline ceiling|bare|none]
 */
import { tmpdir } from 'node:os';
import { COMMON_DEFAULTS, COMMON_HELP, commonFlags, fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, runHosted, table, UsageError, type CommonOptions } from './harness.ts';
import { describeRun, summarise, type RunResult } from './ingest.ts';

interface Options extends CommonOptions {
  ks: number[];
  qos: (0 | 1)[];
  baseline: 'ceiling' | 'bare' | 'none';
  connectBatch: number;
}

const TARGET = { 0: 200_000, 1: 130_000 } as const;
const CEILING_TARGET = { 0: 0.9, 1: 1.0 } as const;

function parseOptions(args: readonly string[]): Options {
  return parseFlags<Options>(args, { ...COMMON_DEFAULTS, ks: [10, 100, 1000], qos: [0, 1], baseline: 'ceiling', connectBatch: 50 }, {
    ...(commonFlags as Record<string, (v: string, o: Options) => void>),
    '--connections': (v, o) => (o.ks = v.split(',').map((x) => positiveInt('--connections', x))),
    '--qos': (v, o) => {
      const q = v.split(',').map(Number);
      if (q.some((x) => x !== 0 && x !== 1)) throw new UsageError(`--qos must list 0 and/or 1, got ${JSON.stringify(v)}`);
      o.qos = q as (0 | 1)[];
    },
    '--baseline': (v, o) => {
      if (v !== 'ceiling' && v !== 'bare' && v !== 'none') throw new UsageError(`--baseline must be ceiling, bare or none, got ${JSON.stringify(v)}`);
      o.baseline = v;
    },
    '--connect-batch': (v, o) => (o.connectBatch = positiveInt('--connect-batch', v)),
  });
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(
      `npm run bench -- connections [options]\n\n  --connections LIST  device connections per run (default 10,100,1000)\n  --qos LIST          0,1 (default both)\n` +
        `  --baseline B        ceiling (aedes counting publishes, default), bare (aedes + JSON.parse + Map) or none\n  --connect-batch N   connections opened at a time (default 50)\n${COMMON_HELP}`,
    );
    return 0;
  }
  const o = parseOptions(args);
  console.log(`connections: ${machine()}`);
  console.log(`connections: K = ${o.ks.join(', ')}; QoS ${o.qos.join(', ')}; ${fmtInt(o.count)} readings per run; ${o.runs} interleaved rounds; baseline: ${o.baseline}; batch interval ${o.batchIntervalMs ?? 1000} ms`);
  const runs = new Map<string, RunResult[]>();
  const push = (k: string, r: RunResult): void => void (runs.get(k) ?? runs.set(k, []).get(k)!).push(r);
  for (let round = 1; round <= o.runs; round++) {
    for (const k of o.ks) {
      for (const qos of o.qos) {
        const opts = { ...o, connections: k, dataRoot: tmpdir() };
        const spec = { connectBatch: o.connectBatch };
        if (o.baseline !== 'none') {
          const b = await runHosted<RunResult>({ kind: 'bare', qos, round, opts: { ...opts, spec }, mode: o.baseline === 'ceiling' ? 'count' : 'map' });
          push(`base-${k}-${qos}`, b);
          console.log(`K=${String(k).padEnd(5)}${describeRun(b)}`);
        }
        const t = await runHosted<RunResult>({ kind: 'thermostream', scenario: `qos${qos}`, round, opts: { ...opts, spec } });
        push(`ts-${k}-${qos}`, t);
        console.log(`K=${String(k).padEnd(5)}${describeRun(t)}`);
      }
    }
  }
  const rows: string[][] = [];
  for (const k of o.ks) {
    for (const qos of o.qos) {
      const t = summarise('ts', runs.get(`ts-${k}-${qos}`)!);
      const b = o.baseline === 'none' ? null : summarise('base', runs.get(`base-${k}-${qos}`)!);
      const okT = t.runs.filter((r) => r.problems.length === 0).length;
      const ratio = b ? t.e2e / b.e2e : NaN;
      rows.push([
        String(k),
        `QoS ${qos}`,
        `${okT}/${t.runs.length}`,
        fmtInt(t.e2e),
        t.runs.map((r) => fmtInt(r.e2eRate)).join(' / '),
        fmtInt(t.accept),
        b ? fmtInt(b.e2e) : '—',
        fmtRatio(ratio),
        fmtRatio(t.accept / (b?.e2e ?? NaN)),
        `${t.e2e >= TARGET[qos] ? 'met' : 'not met'} (${fmtInt(TARGET[qos])})`,
        b ? `${ratio >= CEILING_TARGET[qos] ? 'met' : 'not met'} (≥ ${CEILING_TARGET[qos].toFixed(1)}×)` : '—',
      ]);
    }
  }
  console.log();
  const baseName = o.baseline === 'ceiling' ? 'aedes ceiling /s' : 'bare aedes /s';
  console.log(
    table(['K', 'QoS', 'runs ok', 'Thermostream end to end /s (median)', 'runs', 'accepted /s', baseName, 'ratio (end to end)', 'ratio (accepted)', 'rate target', 'ratio target'], rows),
  );
  console.log();
  console.log(`reproduce: npm run bench -- connections ${args.join(' ')}`.trimEnd());
  const failed = [...runs.values()].flat().filter((r) => r.problems.length > 0);
  if (failed.length > 0) {
    console.error(`\nconnections: ${failed.length} run(s) FAILED:`);
    for (const r of failed) console.error(`  ${r.target} #${r.round} (K=${r.load.count}): ${r.problems.join('; ')}`);
    return 1;
  }
  return 0;
}
