/**
 * The batch thread's work during an ingest burst, without a network: the ingest log's blocks (BlockWriter, as ingest
 * writes them) handed to BatchRunner.add() one after another, the whole burst one open batch — decode, the telemetry
 * job (dedupe, windows, detectors) and the recent raw readings; no run(), so no commit. The burst has the shape of
 * `bench connections`: K devices taking turns, each with seq 0, 1, 2, … and its ts STEP_MS later each reading, the
 * load generator's ids and values (bench/loadgen.ts). Each run is a fresh process with the node flags of `npm start`
 * (SERVER_NODE_FLAGS: the server's young generation), which builds the blocks (not timed), then times the add()s:
 *   - ms and readings/s,
 *   - GC ms, scavenges and mark-compacts during the timed part (PerformanceObserver "gc"),
 *   - heap used right after it (no GC forced: garbage not yet collected counts too).
 *
 *   npm run bench -- batch-side [--devices K] [--readings N] [--block N] [--runs N] [--compare DIR]
 *
 * --compare DIR: also run the checkout in DIR (e.g. `git worktree add /work/wt/base <commit>` and a node_modules
 * symlink), its own BlockWriter and BatchRunner, interleaved run by run, and report new / old ratios.
 */
import { join, resolve } from 'node:path';
import { constants, PerformanceObserver, type NodeGCPerformanceDetail } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Reading } from '../server/ingest/reading.ts';
import type { Store } from '../server/store/index.ts';
import { fmtInt, fmtRatio, forkRun, machine, median, parseFlags, positiveInt, REPO, reproduce, SERVER_NODE_FLAGS, serveRun, table } from './harness.ts';

interface Options {
  devices: number;
  readings: number;
  /** Readings per block: what a 50-ms block holds at 500,000 readings/s. */
  block: number;
  runs: number;
  compare: string;
}

const DEFAULTS: Options = { devices: 1000, readings: 1_000_000, block: 25_000, runs: 5, compare: '' };
const T0 = Date.parse('2026-11-25T00:00:00Z');
/** Event time between two readings of a device: the load generator's 5 s spread over 1,000 readings a device. */
const STEP_MS = 5;

const USAGE = `npm run bench -- batch-side [options]

  --devices K     devices, taking turns (default ${DEFAULTS.devices})
  --readings N    readings in all (default ${fmtInt(DEFAULTS.readings)})
  --block N       readings per ingest log block handed to BatchRunner.add() (default ${fmtInt(DEFAULTS.block)})
  --runs N        runs per variant, each in a fresh process, interleaved (default ${DEFAULTS.runs}); medians reported
  --compare DIR   also run the checkout in DIR, and print new / old ratios`;

interface RunResult {
  ms: number;
  gcMs: number;
  scavenges: number;
  markCompacts: number;
  heapUsed: number;
}

/** One run, in this (child) process, on the checkout under `root`. */
async function child(root: string, o: Options): Promise<RunResult> {
  const url = (p: string) => pathToFileURL(join(root, p)).href;
  const { resolveConfig } = (await import(url('server/config.ts'))) as typeof import('../server/config.ts');
  const { BlockWriter } = (await import(url('server/ingest/log-format.ts'))) as typeof import('../server/ingest/log-format.ts');
  const { BatchRunner } = (await import(url('server/engine/batch-runner.ts'))) as typeof import('../server/engine/batch-runner.ts');

  const ids = Array.from({ length: o.devices }, (_, d) => `bench-${String(d).padStart(4, '0')}`);
  const w = new BlockWriter();
  const r: Reading = { deviceId: '', ts: 0, temperature: 0, humidity: 0, seq: 0, arrival: 0 }; // the writer keeps nothing of it
  const blocks: Buffer[] = [];
  for (let i = 0; i < o.readings; i++) {
    const d = i % o.devices;
    const seq = Math.floor(i / o.devices);
    r.deviceId = ids[d];
    r.ts = T0 + seq * STEP_MS;
    r.temperature = Number((18 + ((seq * 7 + d * 13) % 700) / 100).toFixed(2)); // as JSON.parse gives the payload's
    r.humidity = Number((35 + ((seq * 3 + d) % 200) / 10).toFixed(1));
    r.seq = seq;
    r.arrival = r.ts + 2;
    w.reading(r);
    if (w.count === o.block || i === o.readings - 1) blocks.push(w.finish());
  }

  // add() never touches the store: only run() commits.
  const runner = new BatchRunner(resolveConfig({}), {} as Store, null, T0);
  const gc = { ms: 0, scavenges: 0, markCompacts: 0 };
  let from = Infinity;
  let to = Infinity;
  // Entries arrive after the synchronous timed loop: judged by their start time.
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.startTime < from || e.startTime >= to) continue;
      gc.ms += e.duration;
      // Node ≥ 16: the kind is in detail (entry.kind is deprecated, DEP0152); @types/node does not declare detail here.
      const { kind } = (e as unknown as { detail: NodeGCPerformanceDetail }).detail;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.scavenges++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.markCompacts++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  let offset = 1;
  from = performance.now();
  for (const block of blocks) {
    const count = block.readUInt32LE(8); // the block header's record count
    runner.add({ buffers: [block], firstOffset: offset, after: offset - 1, lastOffset: offset + count - 1 });
    offset += count;
  }
  to = performance.now();
  const heapUsed = process.memoryUsage().heapUsed;
  await new Promise((done) => setTimeout(done, 50)); // let the observer deliver
  obs.disconnect();
  checkAllCounted(runner, o.readings);
  return { ms: to - from, gcMs: gc.ms, scavenges: gc.scavenges, markCompacts: gc.markCompacts, heapUsed };
}

/**
 * That every reading went into its windows, none dropped as a duplicate or late (else this measures another path).
 * The open batch is BatchRunner's private state: checked only where it has the shape it has today.
 */
function checkAllCounted(runner: object, readings: number): void {
  const batch = (runner as { open?: { batch?: { records?: number; duplicates?: number; late?: unknown[] } } }).open?.batch;
  if (batch?.records === undefined || batch.late === undefined) return;
  if (batch.records !== readings || batch.duplicates !== 0 || batch.late.length !== 0) {
    throw new Error(`batch-side: ${batch.records} of ${readings} readings counted, ${batch.duplicates} duplicates, ${batch.late.length} late`);
  }
}

/** One run in a fresh process with the server's node flags. */
function runChild(root: string, o: Options): Promise<RunResult> {
  return forkRun<RunResult>(fileURLToPath(import.meta.url), root, o, SERVER_NODE_FLAGS);
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags(args, DEFAULTS, {
    '--devices': (v, x) => (x.devices = positiveInt('--devices', v)),
    '--readings': (v, x) => (x.readings = positiveInt('--readings', v)),
    '--block': (v, x) => (x.block = positiveInt('--block', v)),
    '--runs': (v, x) => (x.runs = positiveInt('--runs', v)),
    '--compare': (v, x) => (x.compare = resolve(v)),
  });
  console.log(machine());
  console.log(
    `batch-side: ${fmtInt(o.readings)} readings from ${fmtInt(o.devices)} devices in turn (${STEP_MS} ms of event time between a device's readings), ` +
      `blocks of ${fmtInt(o.block)} into one open batch; node ${SERVER_NODE_FLAGS.join(' ')}; ${o.runs} runs`,
  );
  const variants: [string, string][] = o.compare ? [[`old (${o.compare})`, o.compare], ['new (this checkout)', REPO]] : [['this checkout', REPO]];
  const results = new Map<string, RunResult[]>(variants.map(([name]) => [name, []]));
  for (let run = 0; run < o.runs; run++) {
    for (const [name, root] of variants) results.get(name)!.push(await runChild(root, o));
  }
  const med = (name: string, f: (r: RunResult) => number) => median(results.get(name)!.map(f));
  const perSec = (r: RunResult) => o.readings / (r.ms / 1000);
  const rows = variants.map(([name]) => [
    name,
    String(results.get(name)!.length),
    med(name, (r) => r.ms).toFixed(0),
    fmtInt(med(name, perSec)),
    med(name, (r) => r.gcMs).toFixed(0),
    fmtInt(med(name, (r) => r.scavenges)),
    fmtInt(med(name, (r) => r.markCompacts)),
    (med(name, (r) => r.heapUsed) / 1048576).toFixed(0),
    results.get(name)!.map((r) => r.ms.toFixed(0)).join(' / '),
  ]);
  console.log(table(['variant', 'runs', 'ms', 'readings/s', 'GC ms', 'scavenges', 'mark-compacts', 'heap used after MB', 'runs (ms)'], rows));
  if (o.compare) {
    const [old, cur] = variants.map(([n]) => n);
    const ratio = (f: (r: RunResult) => number) => fmtRatio(med(cur, f) / med(old, f));
    console.log(`new / old: readings/s ${ratio(perSec)}, GC ms ${ratio((r) => r.gcMs)}, scavenges ${ratio((r) => r.scavenges)}`);
  }
  console.log(reproduce('batch-side', args));
  return 0;
}

serveRun(child);
