/**
 * Memory at fleet scale: N device connections (default 10,000, opened 100 at a time), first idle for --idle
 * seconds, then each sending one reading per second (QoS 1, paced, `ts` = send time) for --seconds (default 60).
 * Thermostream (durable, 1 s batches) and bare aedes (JSON.parse + a Map, bench/baseline.ts) under the same load,
 * interleaved. Reported from the server's process: RSS before any device, with N idle connections, at the end of
 * the load and its peak; heap figures (v8.getHeapStatistics, process.memoryUsage), and for Thermostream the heap of
 * the thread running its batches (GET /api/v1/stats, lastBatch.memory); bytes per connected device.
 * --snapshot writes a heap snapshot of the server's process (its main thread) at the end of the load
 * (v8.writeHeapSnapshot), for each target (bare aedes' is the baseline), and summarises it by constructor
 * (bench/heap-summary.ts). --smaps sums the process's RSS by kind of mapping at the end of the load (bench/smaps.ts):
 * what lies beyond the heaps (malloc arenas, code, stacks).
 *
 *   npm run bench -- memory [--devices 10000] [--devices-per-connection 1] [--every 1] [--seconds 60] [--idle 20] [--runs 3] [--targets thermostream,bare] [--snapshot]
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { AllocProfiler, printAllocSummary, type AllocSummary } from './alloc-profile.ts';
import type { WindowSpec } from '../server/config.ts';
import type { ThreadMemory } from '../server/engine/batch-runner.ts';
import { startBareBroker } from './baseline.ts';
import { summariseHeapSnapshot, printHeapSummary } from './heap-summary.ts';
import { printSmaps, readSmaps, type SmapsSummary } from './smaps.ts';
import { COMMON_DEFAULTS, commonFlags, fmtInt, fmtMB, fmtRatio, machine, median, oneOf, parseFlags, positiveInt, REFRESH_MODES, REPO, windowShapes, describeWindows, runHosted, SERVER_NODE_FLAGS, table, UsageError, type CommonOptions } from './harness.ts';
import { describeRun, measure, runThermostream, SCENARIOS, type MeasureExtras, type RunResult } from './ingest.ts';

/**
 * thermostream-main: Thermostream with batchThread "main" (all on one thread), for before/after the batch thread;
 * thermostream-v8heap: with heapGrowthPercent 0 (V8's own heap growth), for before/after bounded heap growth;
 * thermostream-v8young: with no node flags (V8's own young generation), for before/after `npm start`'s
 * --max-semi-space-size.
 */
type Target = 'thermostream' | 'thermostream-main' | 'thermostream-v8heap' | 'thermostream-v8young' | 'bare';
const TARGETS: readonly Target[] = ['thermostream', 'thermostream-main', 'thermostream-v8heap', 'thermostream-v8young', 'bare'];
const LABELS: Record<Target, string> = {
  thermostream: 'Thermostream (QoS 1 durable)',
  'thermostream-main': 'Thermostream, batchThread main',
  'thermostream-v8heap': "Thermostream, V8's own heap growth",
  'thermostream-v8young': "Thermostream, V8's own young generation",
  bare: 'bare aedes + Map',
};

interface Options extends CommonOptions {
  devices: number;
  /** Devices per connection (a gateway publishing for each in turn); connections = devices / perConnection. */
  perConnection: number;
  /** Seconds between two readings of one device. */
  everyS: number;
  seconds: number;
  idleS: number;
  targets: Target[];
  snapshot: boolean;
  snapshotDir: string;
  smaps: boolean;
  allocProfile: boolean;
  /** Thermostream's openWindowRefresh; absent: the server's default. */
  openWindowRefresh?: 'slide' | 'batch' | 'final';
  /** Thermostream's windows; absent: the server's default. */
  windows?: WindowSpec[];
}

export interface MemoryJobOptions extends Options {
  dataRoot: string;
}

interface Heap {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** v8.getHeapStatistics().malloced_memory */
  malloced: number;
}

export interface MemoryResult {
  target: Target;
  round: number;
  run: RunResult;
  /** Server started, no device connected. */
  start: Heap;
  /** N connections idle for --idle seconds. */
  idle: Heap;
  /** At the end of the load. */
  loaded: Heap;
  /** Peak RSS over the whole job (sampled every 50 ms, and the kernel's high-water mark of the load phase). */
  peakRss: number;
  /** When the sampled peak was seen: seconds from the start of the load (negative: before it, connecting or idle). */
  peakAt: number;
  /** RSS every 10 s of the load (sampled), from its start: whether memory settles or still grows at the end. */
  trend: number[];
  /** Thermostream: the batch thread's heap and array buffers at the end of the load (GET /api/v1/stats, lastBatch.memory). */
  batchThread: ThreadMemory | null;
  snapshot: string | null;
  /** --smaps: the process's RSS by kind of mapping at the end of the load. */
  smaps: SmapsSummary | null;
  alloc: AllocSummary | null;
  loadSeconds: number;
  /** Thermostream: its batches during the load (GET /api/v1/stats every 250 ms), to see whether a batch's cost grows. */
  batches: LoadBatch[];
}

/** One committed batch, seen in GET /api/v1/stats: when in the load (s), its readings and commit time. */
interface LoadBatch {
  at: number;
  records: number;
  commitMs: number;
}

/** Medians of the batches in the load's first and last `span` seconds: "commit 120 → 410 ms, 10,000 → 20,000 readings". */
function batchTrend(batches: readonly LoadBatch[], loadSeconds: number, span = 20): string {
  if (loadSeconds < 5 + 2 * span) return '';
  const early = batches.filter((b) => b.at >= 5 && b.at < 5 + span);
  const late = batches.filter((b) => b.at >= loadSeconds - span);
  if (early.length === 0 || late.length === 0) return '';
  const m = (bs: readonly LoadBatch[], f: (b: LoadBatch) => number) => median(bs.map(f));
  return `; batches, ${span} s from the load's 5th s → its last ${span} s (medians): commit ${fmtInt(m(early, (b) => b.commitMs))} → ${fmtInt(m(late, (b) => b.commitMs))} ms, ` +
    `${fmtInt(m(early, (b) => b.records))} → ${fmtInt(m(late, (b) => b.records))} readings`;
}

function heap(): Heap {
  const m = process.memoryUsage();
  const h = getHeapStatistics();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, malloced: h.malloced_memory };
}

/** One job in the server host's process. */
export async function runMemory(target: Target, round: number, o: MemoryJobOptions): Promise<MemoryResult> {
  let start: Heap | null = null;
  let idle: Heap | null = null;
  let loaded: Heap | null = null;
  let batchThread: MemoryResult['batchThread'] = null;
  let snapshot: string | null = null;
  let smaps: SmapsSummary | null = null;
  let alloc: AllocSummary | null = null;
  let loadStart = 0;
  let loadEnd = 0;
  const profiler = o.allocProfile ? new AllocProfiler() : null;
  let sampledMax = 0;
  let peakAt = 0;
  const trend: number[] = [];
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    const at = loadStart === 0 ? -1 : (performance.now() - loadStart) / 1000;
    if (rss > sampledMax) [sampledMax, peakAt] = [rss, at];
    if (at >= trend.length * 10 && loadEnd === 0) trend.push(rss);
  }, 50);
  const batches: LoadBatch[] = [];
  let batchPoller: NodeJS.Timeout | undefined;
  const pollBatches = (httpUrl: string) => {
    let seen = -1;
    batchPoller = setInterval(() => {
      fetch(`${httpUrl}/api/v1/stats`)
        .then((res) => res.json() as Promise<{ batches: number; lastBatch: { records: number; commitMs: number } | null }>)
        .then((st) => {
          if (st.lastBatch === null || st.batches === seen) return;
          seen = st.batches;
          batches.push({ at: (performance.now() - loadStart) / 1000, records: st.lastBatch.records, commitMs: st.lastBatch.commitMs });
        })
        .catch(() => {}); // a missed sample only thins the trend
    }, 250);
  };
  const opts: CommonOptions = {
    ...o,
    connections: o.devices / o.perConnection,
    count: Math.round((o.devices * o.seconds) / o.everyS),
    timeLimitMs: (o.seconds + 120) * 1000,
    spec: { ratePerSec: o.devices / o.everyS, connectBatch: 100, devicesPerConnection: o.perConnection },
  };
  const extras = (app?: { httpUrl: string }): MeasureExtras => {
    start = heap();
    return {
      beforeGo: async () => {
        await new Promise((r) => setTimeout(r, o.idleS * 1000));
        idle = heap();
        await profiler?.start();
        loadStart = performance.now();
        if (app !== undefined) pollBatches(app.httpUrl);
      },
      afterDone: async () => {
        loadEnd = performance.now();
        clearInterval(batchPoller);
        loaded = heap();
        if (o.smaps) smaps = readSmaps();
        if (app !== undefined) {
          const stats = (await (await fetch(`${app.httpUrl}/api/v1/stats`)).json()) as { lastBatch: { memory: MemoryResult['batchThread'] } | null };
          batchThread = stats.lastBatch?.memory ?? null;
        }
        if (profiler) alloc = await profiler.stop();
        clearInterval(sampler); // the snapshot below costs memory of its own: not the server's
        if (o.snapshot) {
          mkdirSync(o.snapshotDir, { recursive: true });
          snapshot = writeHeapSnapshot(join(o.snapshotDir, `${target}-${o.devices}-devices-round${round}.heapsnapshot`));
        }
      },
    };
  };
  try {
    let run: RunResult;
    if (target !== 'bare') {
      const scenario = SCENARIOS.find((s) => s.name === (target === 'thermostream-main' ? 'qos1-main' : 'qos1'))!;
      const heapGrowthPercent = target === 'thermostream-v8heap' ? 0 : opts.heapGrowthPercent;
      run = await runThermostream(scenario, round, { ...opts, heapGrowthPercent, dataRoot: o.dataRoot }, extras);
    } else {
      const b = await startBareBroker('map');
      try {
        run = await measure('bare-qos1', round, opts, 1, { host: '127.0.0.1', mqttPort: b.mqttPort, statsUrl: b.statsUrl }, 'bench-', extras());
      } finally {
        await b.close();
      }
    }
    run.target = target;
    return { target, round, run, start: start!, idle: idle!, loaded: loaded!, peakRss: Math.max(sampledMax, run.peakRss), peakAt, trend, batchThread, snapshot, smaps, alloc, loadSeconds: (loadEnd - loadStart) / 1000, batches };
  } finally {
    clearInterval(sampler);
    clearInterval(batchPoller);
  }
}

function parseOptions(args: readonly string[]): Options {
  return parseFlags<Options>(
    args,
    {
      ...COMMON_DEFAULTS,
      runs: 1,
      devices: 10_000,
      perConnection: 1,
      everyS: 1,
      seconds: 60,
      idleS: 20,
      targets: ['thermostream', 'bare'],
      snapshot: false,
      smaps: false,
      snapshotDir: join(REPO, '.tmp', 'bench-heap'),
      allocProfile: false,
    },
    {
      ...(commonFlags as Record<string, (v: string, o: Options) => void>),
      '--devices': (v, o) => (o.devices = positiveInt('--devices', v)),
      '--devices-per-connection': (v, o) => (o.perConnection = positiveInt('--devices-per-connection', v)),
      '--every': (v, o) => (o.everyS = positiveInt('--every', v)),
      '--seconds': (v, o) => (o.seconds = positiveInt('--seconds', v)),
      '--idle': (v, o) => (o.idleS = positiveInt('--idle', v)),
      '--targets': (v, o) => {
        const t = v.split(',');
        if (t.some((x) => !TARGETS.includes(x as Target))) throw new UsageError(`--targets lists some of ${TARGETS.join(', ')}, got ${JSON.stringify(v)}`);
        o.targets = t as Target[];
      },
      '--snapshot': (v, o) => (o.snapshot = v !== 'false' && v !== 'no'),
      '--smaps': (v, o) => (o.smaps = v !== 'false' && v !== 'no'),
      '--alloc-profile': (v, o) => (o.allocProfile = v !== 'false' && v !== 'no'),
      '--open-window-refresh': (v, o) => (o.openWindowRefresh = oneOf('--open-window-refresh', v, REFRESH_MODES)),
      '--windows': (v, o) => (o.windows = windowShapes('--windows', v)),
    },
  );
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(`npm run bench -- memory [options]

  --devices N        devices (default 10000), each its own connection unless --devices-per-connection; connections
                     are opened 100 at a time
  --devices-per-connection N   devices each connection publishes for, in turn, as a gateway would (default 1): a
                     fleet larger than the open-file limit (ulimit -n) allows connections
  --every S          seconds between two readings of a device (default 1)
  --seconds S        seconds of load (default 60)
  --idle S           seconds the connections stay idle first (default 20)
  --targets LIST     of thermostream, thermostream-main (batchThread main), thermostream-v8heap (heapGrowthPercent 0),
                     thermostream-v8young (no node flags: V8's own young generation), bare (default thermostream,bare;
                     interleaved)
  --runs N           rounds (default 1)
  --snapshot yes     heap snapshot of the server's main thread at the end of the load, for each target (bare aedes'
                     the baseline), summarised by constructor
  --smaps yes        the server process's RSS at the end of the load by kind of mapping (/proc/self/smaps): malloc
                     arenas, V8's pages, code, stacks
  --alloc-profile yes  sampling heap profile of the load phase (garbage included), by function and area
  --node-flags "..."   node flags for Thermostream's process (default: those of npm start); bare aedes runs with none
  --open-window-refresh slide|batch|final   Thermostream's openWindowRefresh (default: the server's, slide)
  --windows L/S,...  Thermostream's window shapes, length/slide in ms (default: the server's, 10000/2000,60000/10000,300000/60000)
  --batch-thread worker|main   Thermostream's batchThread for the target thermostream (default worker)
  --block-interval MS          Thermostream's blockIntervalMs (default: the server's, 50; 0 = a batch's work all at its time)
  --heap-growth P              Thermostream's heapGrowthPercent (default: the server's, 20; 0 = V8's own heap growth)`);
    return 0;
  }
  const o = parseOptions(args);
  if (o.devices % o.perConnection !== 0) throw new UsageError(`--devices (${o.devices}) must be a multiple of --devices-per-connection (${o.perConnection})`);
  console.log(`memory: ${machine()}`);
  console.log(
    `memory: ${fmtInt(o.devices)} devices (QoS 1) over ${fmtInt(o.devices / o.perConnection)} connections, idle ${o.idleS} s, ` +
      `then 1 reading every ${o.everyS} s each for ${o.seconds} s; ${o.runs} round(s); ${o.targets.join(' vs ')}` +
      `; Thermostream's node flags: ${(o.nodeFlags ?? SERVER_NODE_FLAGS).join(' ') || 'none'}` +
      (o.openWindowRefresh ? `; openWindowRefresh ${o.openWindowRefresh}` : '') +
      `; ${describeWindows(o.windows)}`,
  );
  const results = new Map<Target, MemoryResult[]>(o.targets.map((t) => [t, []]));
  let failed = 0;
  for (let round = 1; round <= o.runs; round++) {
    for (const t of o.targets) {
      const r = await runHosted<MemoryResult>({ kind: 'memory', target: t, round, opts: { ...o, dataRoot: tmpdir() } }, t === 'thermostream-v8young' ? [] : o.nodeFlags);
      results.get(t)!.push(r);
      if (r.run.problems.length > 0) failed++;
      console.log(
        `${describeRun(r.run)}\n    RSS: start ${fmtMB(r.start.rss)}, ${fmtInt(o.devices)} idle ${fmtMB(r.idle.rss)}, loaded ${fmtMB(r.loaded.rss)}, peak ${fmtMB(r.peakRss)} (sampled at ${r.peakAt < 0 ? 'before the load' : `${r.peakAt.toFixed(1)} s into it`}; every 10 s of the load: ${r.trend.map(fmtMB).join(', ')}); ` +
          `loaded heap used ${fmtMB(r.loaded.heapUsed)} of ${fmtMB(r.loaded.heapTotal)}, external ${fmtMB(r.loaded.external)} (array buffers ${fmtMB(r.loaded.arrayBuffers)}), malloc ${fmtMB(r.loaded.malloced)}` +
          (r.batchThread === null ? '' : `; the thread running batches: heap used ${fmtMB(r.batchThread.heapUsedBytes)} of ${fmtMB(r.batchThread.heapTotalBytes)}, array buffers ${fmtMB(r.batchThread.arrayBuffersBytes)}`) +
          batchTrend(r.batches, r.loadSeconds),
      );
    }
  }
  const perDevice = (a: number, b: number): string => fmtInt((a - b) / o.devices);
  const rows: string[][] = [];
  const med = (t: Target, f: (r: MemoryResult) => number): number => median(results.get(t)!.map(f));
  for (const t of o.targets) {
    const rs = results.get(t)!;
    rows.push([
      LABELS[t],
      `${rs.filter((r) => r.run.problems.length === 0).length}/${rs.length}`,
      fmtMB(med(t, (r) => r.start.rss)),
      fmtMB(med(t, (r) => r.idle.rss)),
      fmtMB(med(t, (r) => r.loaded.rss)),
      `${fmtMB(med(t, (r) => r.peakRss))} / ${fmtMB(Math.max(...rs.map((r) => r.peakRss)))}`,
      perDevice(med(t, (r) => r.idle.rss), med(t, (r) => r.start.rss)),
      perDevice(med(t, (r) => r.loaded.rss), med(t, (r) => r.start.rss)),
      `${fmtMB(med(t, (r) => r.idle.heapUsed))} / ${fmtMB(med(t, (r) => r.loaded.heapUsed))}`,
      fmtMB(med(t, (r) => r.loaded.external)),
    ]);
  }
  console.log();
  console.log(
    table(
      ['server', 'runs ok', 'RSS start', `RSS ${fmtInt(o.devices)} idle`, 'RSS loaded (end)', 'peak RSS (median / largest)', 'bytes/device idle', 'bytes/device loaded', 'heap used idle / loaded', 'external'],
      rows,
    ),
  );
  if (o.targets.includes('thermostream') && o.targets.includes('bare')) {
    const ratio = (f: (r: MemoryResult) => number): string => fmtRatio(med('thermostream', f) / med('bare', f));
    const largest = (t: Target): number => Math.max(...results.get(t)!.map((r) => r.peakRss));
    console.log();
    console.log(
      table(
        ['Thermostream / bare aedes', 'ratio'],
        [
          ['RSS, idle connections (medians)', ratio((r) => r.idle.rss)],
          ['RSS, loaded (end; medians)', ratio((r) => r.loaded.rss)],
          ['peak RSS (medians)', ratio((r) => r.peakRss)],
          ['peak RSS (the largest of each)', fmtRatio(largest('thermostream') / largest('bare'))],
          ['peak RSS, round by round', results.get('thermostream')!.map((r, i) => fmtRatio(r.peakRss / (results.get('bare')![i]?.peakRss ?? NaN))).join(' / ')],
        ],
      ),
    );
    const extra = med('thermostream', (r) => r.loaded.rss) - med('bare', (r) => r.loaded.rss);
    console.log(`beyond the bare broker's, loaded: ${fmtMB(extra)}, ${perDevice(extra, 0)} bytes per device`);
  }
  for (const r of [...results.values()].flat()) {
    if (r.alloc === null) continue;
    console.log(`\nallocation profile, ${r.target}, round ${r.round}:`);
    printAllocSummary(r.alloc, r.loadSeconds, r.run.count);
  }
  for (const r of [...results.values()].flat()) {
    if (r.smaps === null) continue;
    console.log(`\n${LABELS[r.target]}, round ${r.round}, end of the load:`);
    printSmaps(r.smaps);
  }
  for (const r of [...results.values()].flat()) {
    if (r.snapshot === null) continue;
    console.log(`\nheap snapshot, ${r.target}: ${relative(REPO, r.snapshot)} (round ${r.round}, end of the load)`);
    printHeapSummary(summariseHeapSnapshot(r.snapshot), o.devices);
  }
  console.log();
  console.log(`reproduce: npm run bench -- memory ${args.join(' ')}`.trimEnd());
  if (failed > 0) {
    console.error(`\nmemory: ${failed} run(s) FAILED (see above)`);
    return 1;
  }
  return 0;
}
