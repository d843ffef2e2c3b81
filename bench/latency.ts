/**
 * Publish → result latency: how long after a device publishes a reading its window result arrives on the SSE
 * stream (GET /api/v1/stream), and how long until the batch that counts it closes (the batch's committedAt, stamped
 * as it closes, before its SQLite commit: "committed" below). QoS 1, durable, at batch intervals 1 s and 200 ms, with the generator paced at 10 % and 80 % of the
 * sustainable rate (measured first in the same script, unpaced, per batch interval; or given with --sustainable).
 * The probe (bench/latency-probe.ts) runs in the generator's process and follows the first --probe devices.
 *
 * With --block-intervals 0,50 each load runs with each blockIntervalMs in turn (same rate, interleaved per round):
 * a batch's work all at its time, against its blocks processed as they become durable.
 *
 *   npm run bench -- latency [--intervals 1000,200] [--loads 10,80] [--block-intervals 0,50] [--duration 20] [--runs 3]
 */
import { tmpdir } from 'node:os';
import { COMMON_DEFAULTS, commonFlags, fmtInt, machine, median, parseFlags, positiveInt, runHosted, table, UsageError, type CommonOptions } from './harness.ts';
import { describeRun, runThermostream, SCENARIOS, type RunResult } from './ingest.ts';
import type { LatencyResult } from './protocol.ts';

interface Options extends CommonOptions {
  intervals: number[];
  loads: number[];
  durationS: number;
  probe: number;
  warmupS: number;
  sustainable: number | null;
  calibrationCount: number;
  /** blockIntervalMs settings compared at each load; [null]: the configuration's (or --block-interval). */
  blockIntervals: (number | null)[];
}

export interface LatencyJobOptions extends CommonOptions {
  dataRoot: string;
  batchIntervalMs: number;
  ratePerSec: number;
  probe: number;
  warmupS: number;
}

/** One paced run (in the server host's process). */
export async function runLatency(round: number, opts: LatencyJobOptions): Promise<RunResult> {
  const s = SCENARIOS.find((x) => x.name === 'qos1')!;
  return runThermostream(s, round, opts, (app) => ({
    spec: { ratePerSec: opts.ratePerSec, latency: { streamUrl: `${app.httpUrl}/api/v1/stream`, devices: opts.probe, warmupMs: opts.warmupS * 1000 } },
  }));
}

const list = (name: string, v: string): number[] => v.split(',').map((x) => positiveInt(name, x));

function parseOptions(args: readonly string[]): Options {
  const o = parseFlags<Options>(
    args,
    { ...COMMON_DEFAULTS, intervals: [1000, 200], loads: [10, 80], durationS: 20, probe: 10, warmupS: 3, sustainable: null, calibrationCount: 1_000_000, blockIntervals: [null] },
    {
      ...(commonFlags as Record<string, (v: string, o: Options) => void>),
      '--intervals': (v, o) => (o.intervals = list('--intervals', v)),
      '--loads': (v, o) => {
        o.loads = list('--loads', v);
        if (o.loads.some((x) => x > 100)) throw new UsageError('--loads are percentages of the sustainable rate, at most 100');
      },
      '--duration': (v, o) => (o.durationS = positiveInt('--duration', v)),
      '--probe': (v, o) => (o.probe = positiveInt('--probe', v)),
      '--warmup': (v, o) => {
        o.warmupS = Number(v);
        if (!Number.isFinite(o.warmupS) || o.warmupS < 0) throw new UsageError(`--warmup must be a number of seconds ≥ 0, got ${JSON.stringify(v)}`);
      },
      '--sustainable': (v, o) => (o.sustainable = positiveInt('--sustainable', v)),
      '--calibration-count': (v, o) => (o.calibrationCount = positiveInt('--calibration-count', v)),
      '--block-intervals': (v, o) => {
        o.blockIntervals = v.split(',').map((x) => {
          const n = Number(x);
          if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--block-intervals must be integers ≥ 0 (ms), got ${JSON.stringify(v)}`);
          return n;
        });
      },
    },
  );
  return o.blockIntervals[0] === null ? { ...o, blockIntervals: [o.blockIntervalMs] } : o;
}

const blockLabel = (b: number | null): string => (b === null ? 'blocks (default)' : b === 0 ? 'no blocks' : `blocks every ${b} ms`);

const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)}` : '—');

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(`npm run bench -- latency [options]

  --intervals LIST       batch intervals in ms (default 1000,200)
  --loads LIST           % of the sustainable rate (default 10,80)
  --duration S           seconds of paced load per run (default 20)
  --probe N              devices whose readings are followed on the stream (default 10)
  --warmup S             readings published in the first S seconds of a run are not counted (default 3)
  --sustainable N        readings/s taken as sustainable (default: measured first, unpaced QoS 1, per interval)
  --calibration-count N  readings of that unpaced run (default 1000000)
  --block-intervals LIST blockIntervalMs settings run at each load, interleaved (e.g. 0,50; default: --block-interval,
                         else the configuration's); the calibration runs with --block-interval (default 50)
  --runs, --connections, --window, --time-limit, --heap-growth, --node-flags as for ingest`);
    return 0;
  }
  const o = parseOptions(args);
  console.log(`latency: ${machine()}`);
  console.log(`latency: QoS 1 durable, ${o.connections} connections, batch intervals ${o.intervals.join(', ')} ms, loads ${o.loads.join(', ')} % of sustainable, ${o.blockIntervals.map(blockLabel).join(' / ')}, ${o.durationS} s per run, ${o.runs} rounds, ${o.probe} probed devices`);
  const rows: string[][] = [];
  const failed: RunResult[] = [];
  for (const interval of o.intervals) {
    let sustainable = o.sustainable;
    if (sustainable === null) {
      const cal = await runHosted<RunResult>({
        kind: 'thermostream',
        scenario: 'qos1',
        round: 0,
        opts: { ...o, count: o.calibrationCount, dataRoot: tmpdir(), batchIntervalMs: interval },
      }, o.nodeFlags);
      console.log(`interval ${interval} ms, calibration:${describeRun(cal)}`);
      if (cal.problems.length > 0) failed.push(cal);
      sustainable = cal.e2eRate;
    }
    const cases = o.loads.flatMap((load) => o.blockIntervals.map((block) => ({ load, block })));
    const byCase = new Map(cases.map((c) => [c, [] as RunResult[]]));
    for (let round = 1; round <= o.runs; round++) {
      for (const c of cases) {
        const { load, block } = c;
        const rate = Math.max(1, Math.round((sustainable * load) / 100));
        const opts: LatencyJobOptions = {
          ...o,
          count: Math.max(o.connections, rate * o.durationS),
          timeLimitMs: Math.max(o.timeLimitMs, (o.durationS + 60) * 1000),
          dataRoot: tmpdir(),
          batchIntervalMs: interval,
          ratePerSec: rate,
          probe: o.probe,
          warmupS: o.warmupS,
          blockIntervalMs: block,
        };
        const r = await runHosted<RunResult>({ kind: 'latency', round, opts }, o.nodeFlags);
        byCase.get(c)!.push(r);
        if (r.problems.length > 0) failed.push(r);
        const l = r.load.latency;
        console.log(
          `interval ${interval} ms, ${load} %, ${blockLabel(block)} (${fmtInt(rate)}/s, paced at ${fmtInt(r.load.pacedRate ?? NaN)}/s):${describeRun(r)}\n` +
            `    stream p50/p99/max ${l ? `${ms(l.stream.p50)} / ${ms(l.stream.p99)} / ${ms(l.stream.max)}` : '—'} ms, ` +
            `committed ${l ? `${ms(l.committed.p50)} / ${ms(l.committed.p99)} / ${ms(l.committed.max)}` : '—'} ms, seen ${l ? `${fmtInt(l.seen)} of ${fmtInt(l.probed)}` : '—'}; ` +
            `the generator's event-loop delay (the probe's loop) p50/p99/max ${l ? `${ms(l.loopDelay.p50)} / ${ms(l.loopDelay.p99)} / ${ms(l.loopDelay.max)}` : '—'} ms`,
        );
      }
    }
    for (const c of cases) {
      const { load, block } = c;
      const rs = byCase.get(c)!;
      const ls = rs.map((r) => r.load.latency).filter((x): x is LatencyResult => x !== undefined);
      const p99 = median(ls.map((l) => l.stream.p99));
      rows.push([
        `${interval} ms`,
        `${load} %`,
        blockLabel(block),
        fmtInt((sustainable * load) / 100),
        fmtInt(median(rs.map((r) => r.load.pacedRate ?? NaN))),
        `${ms(median(ls.map((l) => l.stream.p50)))} / ${ms(p99)} / ${ms(Math.max(...ls.map((l) => l.stream.max)))}`,
        `${ms(median(ls.map((l) => l.committed.p50)))} / ${ms(median(ls.map((l) => l.committed.p99)))} / ${ms(Math.max(...ls.map((l) => l.committed.max)))}`,
        ls.map((l) => ms(l.stream.p99)).join(' / '),
        `${fmtInt(ls.reduce((a, l) => a + l.seen, 0))} / ${fmtInt(ls.reduce((a, l) => a + l.probed, 0))}`,
        load >= 80 ? `${p99 <= interval + 100 ? 'met' : 'not met'} (≤ ${interval + 100})` : '—',
      ]);
    }
    console.log(`interval ${interval} ms: sustainable rate taken as ${fmtInt(sustainable)}/s`);
  }
  console.log();
  console.log(
    table(
      ['batch interval', 'load', 'blocks', 'target rate /s', 'paced /s (median)', 'SSE p50 / p99 / max ms', 'committed p50 / p99 / max ms', 'SSE p99 per run', 'seen / probed (warm-up incl.)', 'p99 target'],
      rows,
    ),
  );
  console.log(`(medians over runs of each run's p50 and p99, readings published after the first ${o.warmupS} s; max = the largest of all runs)`);
  console.log();
  console.log(`reproduce: npm run bench -- latency ${args.join(' ')}`.trimEnd());
  if (failed.length > 0) {
    console.error(`\nlatency: ${failed.length} run(s) FAILED:`);
    for (const r of failed) console.error(`  ${r.target} #${r.round}: ${r.problems.join('; ')}`);
    return 1;
  }
  return 0;
}
