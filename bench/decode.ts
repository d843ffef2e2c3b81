/**
 * Decode micro-benchmark: ingest's per-message decode (server/ingest/decode.ts), the JSON.parse path against the fast
 * path (the byte scanner of decode-flat.ts), in one process, interleaved, on pre-built realistic messages:
 *
 *   flat      the load generator's payload on the plain topic: {"ts":<13 digits>,"temperature":21.37,"humidity":40.2,"seq":17}
 *   iothub    the IoT Hub dialect: a property bag with $.mid and $.ct, an ISO 8601 ts, no seq
 *   rejects   flat, with one message in ten out of range (a rejection takes the JSON.parse path after the scanner)
 *
 * Reports ns per message and bytes allocated per message (garbage included: the heap's growth plus what each GC
 * freed, from v8.GCProfiler), medians of the runs.
 *
 *   npm run bench -- decode [--runs N] [--count N]
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { decodeMessage, decodeMessageJson, type DecodeLimits, type DecodeSink } from '../server/ingest/decode.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, table } from './harness.ts';

interface Options {
  runs: number;
  count: number;
}

const USAGE = `npm run bench -- decode [options]

  --runs N    interleaved runs per scenario and path, the median is reported (default 7, at least 5 advised)
  --count N   messages decoded per run (default 200000)`;

const LIMITS: DecodeLimits = { maxPayloadBytes: 262_144, maxClockSkewMs: 60_000 };
const ARRIVAL = Date.parse('2026-12-02T06:00:00Z');
const DEVICES = 1000;

type Decode = typeof decodeMessage;
const PATHS: { name: string; decode: Decode }[] = [
  { name: 'JSON.parse', decode: decodeMessageJson },
  { name: 'fast', decode: decodeMessage },
];

interface Messages {
  topics: string[];
  payloads: Buffer[];
}

/** The messages of a scenario: device i % DEVICES, values varying as the load generator's do. */
function build(scenario: string, count: number): Messages {
  const topics: string[] = [];
  const payloads: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const device = `dev-${String(i % DEVICES).padStart(5, '0')}`;
    const seq = Math.floor(i / DEVICES);
    const ts = ARRIVAL - 5000 + (i % 5000);
    const temperature = (18 + ((seq * 7 + i * 13) % 700) / 100).toFixed(2);
    const humidity = (30 + ((seq * 3 + i) % 400) / 10).toFixed(1);
    if (scenario === 'iothub') {
      topics.push(`devices/${device}/messages/events/%24.mid=${device}-${seq}&%24.ct=application%2Fjson&%24.ce=utf-8`);
      payloads.push(Buffer.from(`{"ts":"${new Date(ts).toISOString()}","temperature":${temperature},"humidity":${humidity}}`));
    } else {
      const t = scenario === 'rejects' && i % 10 === 9 ? '1234.5' : temperature;
      topics.push(`devices/${device}/telemetry`);
      payloads.push(Buffer.from(`{"ts":${ts},"temperature":${t},"humidity":${humidity},"seq":${seq}}`));
    }
  }
  return { topics, payloads };
}

/** Counts and sums, so nothing the decoder produces is dead code. */
class CountingSink implements DecodeSink {
  accepted = 0;
  rejected = 0;
  sum = 0;
  accept(r: Reading): void {
    this.accepted++;
    this.sum += r.temperature + r.ts;
  }
  reject(): void {
    this.rejected++;
  }
}

interface Sample {
  ns: number;
  bytes: number;
  accepted: number;
  rejected: number;
}

function runOnce(decode: Decode, m: Messages): Sample {
  const sink = new CountingSink();
  const { topics, payloads } = m;
  const n = payloads.length;
  const gc = new GCProfiler();
  gc.start();
  const heapBefore = getHeapStatistics().used_heap_size;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) decode(topics[i], payloads[i], ARRIVAL, LIMITS, sink);
  const ns = Number(process.hrtime.bigint() - start);
  const heapAfter = getHeapStatistics().used_heap_size;
  const { statistics } = gc.stop();
  let freed = 0;
  for (const s of statistics) freed += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
  return { ns: ns / n, bytes: (heapAfter - heapBefore + freed) / n, accepted: sink.accepted, rejected: sink.rejected };
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags<Options>(args, { runs: 7, count: 200_000 }, {
    '--runs': (v, x) => void (x.runs = positiveInt('--runs', v)),
    '--count': (v, x) => void (x.count = positiveInt('--count', v)),
  });
  console.log(`decode: ${machine()}`);
  console.log(`decode: ${fmtInt(o.count)} messages per run, ${o.runs} interleaved runs per scenario and path (order alternating), one warm-up run each`);
  const rows: string[][] = [];
  const ratios: string[] = [];
  for (const scenario of ['flat', 'iothub', 'rejects']) {
    const m = build(scenario, o.count);
    for (const p of PATHS) runOnce(p.decode, m); // warm-up: both paths optimised before timing
    const samples = new Map<string, Sample[]>(PATHS.map((p) => [p.name, []]));
    for (let run = 0; run < o.runs; run++) {
      const order = run % 2 === 0 ? PATHS : [...PATHS].reverse();
      for (const p of order) samples.get(p.name)!.push(runOnce(p.decode, m));
    }
    const [slow, fast] = PATHS.map((p) => samples.get(p.name)!);
    if (slow.some((s, i) => s.accepted !== fast[i].accepted || s.rejected !== fast[i].rejected)) {
      throw new Error(`${scenario}: the paths disagree (accepted ${slow[0].accepted} / ${fast[0].accepted}, rejected ${slow[0].rejected} / ${fast[0].rejected})`);
    }
    for (const p of PATHS) {
      const s = samples.get(p.name)!;
      rows.push([
        scenario,
        p.name,
        median(s.map((x) => x.ns)).toFixed(0),
        median(s.map((x) => x.bytes)).toFixed(0),
        `${fmtInt(s[0].accepted)} / ${fmtInt(s[0].rejected)}`,
        s.map((x) => x.ns.toFixed(0)).join(' '),
      ]);
    }
    const ratio = median(slow.map((x) => x.ns)) / median(fast.map((x) => x.ns));
    ratios.push(`${scenario}: fast path ${fmtRatio(ratio)}× as fast (${fmtRatio(1 / ratio)} of the time)`);
  }
  console.log();
  console.log(table(['scenario', 'path', 'ns/message', 'bytes/message', 'accepted / rejected', 'ns/message per run'], rows));
  console.log();
  for (const r of ratios) console.log(r);
  console.log();
  console.log(`reproduce: npm run bench -- decode ${args.join(' ')}`.trimEnd());
  return 0;
}
