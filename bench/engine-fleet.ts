/**
 * The engine at fleet scale, without a network: N devices each sending one reading per second of event time (or one
 * every S seconds, taking turns: --every), one batch per second (the shape of `bench memory`'s load), through the real
 * TelemetryJob with the default windows, detectors and dedupe, optionally plus the store's SQLite commit of every
 * batch. Each run is a fresh process (`node --expose-gc`), so heap figures are the job's own:
 *   - job ms per batch (median and p90 after a warm-up) and commit ms per batch (median, mean and largest),
 *   - window results per batch (median), GC time per batch (PerformanceObserver "gc"), MB written per batch (the
 *     bytes the process handed to write(2), /proc/self/io: the SQLite log and its copy into the database),
 *   - bytes per device: heap used plus array buffers (the panes' typed arrays) after a full GC with the job alive,
 *     minus before it was created, / devices.
 *
 *   npm run bench -- engine-fleet [--devices N] [--every S] [--seconds N] [--warmup N] [--runs N] [--store yes|no]
 *                                 [--open-window-refresh slide|batch|final] [--windows L/S,...] [--compare DIR] [--snapshot DIR] [--alloc-profile yes]
 *                                 [--cpu-prof DIR]
 *
 * --compare DIR: also run the engine of another checkout (DIR/server/...; e.g. `git worktree add /tmp/old <commit>`
 * and a node_modules symlink), interleaved run by run with this one, and report old / new ratios from the same script.
 * --snapshot DIR: a heap snapshot of each run's job at its end, summarised by constructor per device.
 * --alloc-profile yes: V8's sampling heap profiler over the measured batches (garbage included, bench/alloc-profile.ts):
 * MB allocated a batch, and where.
 * --cpu-prof DIR: each run's process under `node --cpu-prof` (profiles in DIR), summarised by self time over the
 * measured batches (bench/profile.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { AllocProfiler, printAllocSummary } from './alloc-profile.ts';
import { printSummary, summariseProfile, type CpuProfile, type Marks } from './profile.ts';
import type { WindowSpec } from '../server/config.ts';
import { fmtInt, forkRun, machine, median, oneOf, parseFlags, positiveInt, REFRESH_MODES, REPO, reproduce, serveRun, windowShapes, describeWindows, table, UsageError } from './harness.ts';

interface Options {
  devices: number;
  /** Seconds between two readings of a device (devices take turns: 1/every of the fleet reports each second). */
  every: number;
  seconds: number;
  warmup: number;
  runs: number;
  store: 'yes' | 'no';
  compare: string;
  /** Write a heap snapshot of the job at the end of each run into this directory, and summarise it. */
  snapshot: string;
  /** Sample allocation over the measured batches. */
  allocProfile: boolean;
  /** Run each child under node --cpu-prof, its profiles in this directory, and summarise the measured batches. */
  cpuProf: string;
  /** The job's openWindowRefresh; null: the configuration's default. */
  openWindowRefresh: 'slide' | 'batch' | 'final' | null;
  /** The job's windows; null: the configuration's default. */
  windows: WindowSpec[] | null;
}

const DEFAULTS: Options = { devices: 10_000, every: 1, seconds: 90, warmup: 30, runs: 3, store: 'yes', compare: '', snapshot: '', allocProfile: false, cpuProf: '', openWindowRefresh: null, windows: null };
const T0 = Date.parse('2026-11-25T00:00:00Z');

interface RunResult {
  jobMs: number;
  jobP90Ms: number;
  commitMs: number;
  /** Mean and largest commit: work done once every few batches shows here, not in the median. */
  commitMeanMs: number;
  commitMaxMs: number;
  gcMs: number;
  /** Bytes the process handed to write(2) a measured batch (/proc/self/io wchar): SQLite's log and its copy into the database. */
  writtenPerBatch: number;
  windowsPerBatch: number;
  bytesPerDevice: number;
  /** Bytes allocated a measured batch (--alloc-profile), NaN without it. */
  allocPerBatch: number;
  /** The measured batches on the profiler's clock (--cpu-prof). */
  marks: Marks;
}

/** Bytes this process has handed to write(2) and its kin so far (Linux); NaN where /proc is not there. */
function bytesWritten(): number {
  try {
    return Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** process.hrtime in µs, the clock of a CPU profile's samples. */
const hrtimeUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** The heap's used bytes and the array buffers' (which live outside the heap). */
function liveBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** A batch's windows: an array in checkouts before packed windows (--compare), else PackedWindows. */
function windowsIn(w: unknown): number {
  if (Array.isArray(w)) return w.length;
  const p = w as { deviceIds: unknown[]; fleet: unknown[] };
  return p.deviceIds.length + p.fleet.length;
}

/** One run, in this (child) process, on the engine under `root`. */
async function child(root: string, o: Options): Promise<RunResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('engine-fleet: the child needs node --expose-gc');
  const url = (p: string) => pathToFileURL(join(root, p)).href;
  const { resolveConfig } = (await import(url('server/config.ts'))) as typeof import('../server/config.ts');
  const { TelemetryJob } = (await import(url('server/engine/telemetry.ts'))) as typeof import('../server/engine/telemetry.ts');
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-engine-fleet-'));
  const config = resolveConfig({
    dataDir: dir,
    ...(o.openWindowRefresh === null ? {} : { openWindowRefresh: o.openWindowRefresh }),
    ...(o.windows === null ? {} : { windows: o.windows }),
  });
  type AnyStore = { commitBatch(out: unknown): unknown; close(): unknown };
  let store = null as AnyStore | null;
  if (o.store === 'yes') {
    const storeModule = (await import(url('server/store/index.ts'))) as { createStore(c: unknown): unknown };
    store = (await storeModule.createStore(config)) as AnyStore;
  }
  let gcMs = 0;
  let measuring = false;
  let measureFrom = Infinity; // entries arrive asynchronously: judged by their start time
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.startTime >= measureFrom) gcMs += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  gc();
  gc();
  const heapBefore = liveBytes();
  const job = new TelemetryJob(config, T0, null);
  const seqs = new Int32Array(o.devices);
  const ids = Array.from({ length: o.devices }, (_, d) => `fleet-${String(d).padStart(5, '0')}`);
  let seed = 42;
  const jobMs: number[] = [];
  const commitMs: number[] = [];
  const windows: number[] = [];
  const profiler = o.allocProfile ? new AllocProfiler() : null;
  let measuredReadings = 0;
  let writtenBefore = NaN;
  const marks: Marks = { startUs: 0, endUs: 0 };
  for (let s = 0; s < o.seconds; s++) {
    const readings = [];
    for (let d = s % o.every; d < o.devices; d += o.every) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const ts = T0 + s * 1000 + ((d * 97) % 1000);
      // 21.37 as JSON.parse gives it (20 + 1.37 is another double, which the engine's compact rings cannot keep).
      readings.push({ deviceId: ids[d], ts, temperature: (2000 + (seed % 300)) / 100, humidity: 40 + (seed % 7), seq: ++seqs[d], arrival: ts + 5 });
    }
    const cut = { readings, deadLetters: [], lastOffset: (s + 1) * o.devices }; // offsets only need to grow
    measuring = s >= o.warmup;
    if (measuring && measureFrom === Infinity) {
      measureFrom = performance.now();
      marks.startUs = hrtimeUs();
      writtenBefore = bytesWritten();
      await profiler?.start(16 * 1024);
    }
    if (measuring) measuredReadings += readings.length;
    const t0 = performance.now();
    const out = job.process(cut, T0 + (s + 1) * 1000 + 10);
    const t1 = performance.now();
    if (store !== null) await store.commitBatch(out);
    const t2 = performance.now();
    if (measuring) {
      jobMs.push(t1 - t0);
      commitMs.push(t2 - t1);
      windows.push(windowsIn(out.windows));
    }
  }
  marks.endUs = hrtimeUs();
  const written = bytesWritten() - writtenBefore;
  const alloc = profiler === null ? null : await profiler.stop();
  if (alloc !== null) printAllocSummary(alloc, jobMs.length, measuredReadings, 12);
  await new Promise((r) => setTimeout(r, 50)); // let the observer deliver
  obs.disconnect();
  gc();
  gc();
  const heapAfter = liveBytes();
  if (o.snapshot) {
    const { writeHeapSnapshot } = await import('node:v8');
    const { summariseHeapSnapshot, printHeapSummary } = await import('./heap-summary.ts');
    mkdirSync(o.snapshot, { recursive: true });
    const file = writeHeapSnapshot(join(o.snapshot, `engine-fleet-${process.pid}.heapsnapshot`));
    console.log(`heap snapshot (${root}): ${file}`);
    printHeapSummary(summariseHeapSnapshot(file), o.devices, 25);
  }
  if (job.watermark < 0) throw new Error('unreachable'); // keep the job alive until after the measurement
  if (store !== null) await store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    jobMs: median(jobMs),
    jobP90Ms: quantile(jobMs, 0.9),
    commitMs: median(commitMs),
    commitMeanMs: commitMs.reduce((a, b) => a + b, 0) / commitMs.length,
    commitMaxMs: Math.max(...commitMs),
    gcMs: gcMs / jobMs.length,
    writtenPerBatch: written / jobMs.length,
    windowsPerBatch: median(windows),
    bytesPerDevice: (heapAfter - heapBefore) / o.devices,
    allocPerBatch: alloc === null ? NaN : alloc.totalBytes / jobMs.length,
    marks,
  };
}

/** One run in a fresh process; with `profileDir`, under node --cpu-prof, its profile summarised over the measured batches. */
async function runChild(root: string, o: Options, profileDir: string | null): Promise<RunResult> {
  const profiling = profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const result = await forkRun<RunResult>(fileURLToPath(import.meta.url), root, o, ['--expose-gc', ...profiling]);
  if (profileDir !== null) {
    // The child's own profile is the largest (tsx's loader thread writes one too).
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
    const [file] = files.map((f) => join(profileDir, f)).sort((a, b) => readFileSync(b).length - readFileSync(a).length);
    console.log(`CPU profile (${root}): ${file}, the measured batches:`);
    printSummary(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, result.marks), 25);
  }
  return result;
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(`npm run bench -- engine-fleet [options]

  --devices N        devices (default 10000), one reading each per second of event time, or every --every seconds
  --every S          seconds between two readings of a device (default 1): 1/S of the fleet reports each second
  --seconds N        batches of 1 s (default 90)
  --warmup N         first batches not measured (default 30)
  --runs N           runs, each in a fresh process (default 3)
  --store yes|no     commit every batch to a SQLite store in a temp dir (default yes); the table's "MB written/batch"
                     is what the process handed to write(2) a measured batch (Linux /proc/self/io: SQLite's log and its
                     copy into the database)
  --open-window-refresh slide|batch|final   the job's openWindowRefresh (default: the server's, slide)
  --windows L/S,...  the job's window shapes, length/slide in ms (default: the server's, 10000/2000,60000/10000,300000/60000)
  --compare DIR      also run the engine of the checkout in DIR, interleaved, and print old / new ratios
  --snapshot DIR     write a heap snapshot of each run's job into DIR and summarise it per device
  --alloc-profile yes|no   sample allocation (garbage included) over the measured batches: MB a batch, and where (default no)
  --cpu-prof DIR     run each child under node --cpu-prof (profiles in DIR/run-N-old|new) and summarise the measured batches by self time`);
    return 0;
  }
  const o = parseFlags(args, DEFAULTS, {
    '--devices': (v, x) => (x.devices = positiveInt('--devices', v)),
    '--every': (v, x) => (x.every = positiveInt('--every', v)),
    '--seconds': (v, x) => (x.seconds = positiveInt('--seconds', v)),
    '--warmup': (v, x) => (x.warmup = positiveInt('--warmup', v)),
    '--runs': (v, x) => (x.runs = positiveInt('--runs', v)),
    '--store': (v, x) => (x.store = oneOf('--store', v, ['yes', 'no'] as const)),
    '--compare': (v, x) => (x.compare = resolve(v)),
    '--snapshot': (v, x) => (x.snapshot = resolve(v)),
    '--alloc-profile': (v, x) => (x.allocProfile = oneOf('--alloc-profile', v, ['yes', 'no'] as const) === 'yes'),
    '--cpu-prof': (v, x) => (x.cpuProf = resolve(v)),
    '--open-window-refresh': (v, x) => (x.openWindowRefresh = oneOf('--open-window-refresh', v, REFRESH_MODES)),
    '--windows': (v, x) => (x.windows = windowShapes('--windows', v)),
  });
  if (o.warmup >= o.seconds) throw new UsageError(`--warmup (${o.warmup}) must be below --seconds (${o.seconds})`);
  console.log(machine());
  console.log(`engine-fleet: ${fmtInt(o.devices)} devices × 1 reading every ${o.every} s, ${o.seconds} batches of 1 s (first ${o.warmup} not measured), ${describeWindows(o.windows)}, default detectors, openWindowRefresh ${o.openWindowRefresh ?? 'default'}, store ${o.store}`);
  const variants: [string, string][] = o.compare ? [['old (' + o.compare + ')', o.compare], ['new (this checkout)', REPO]] : [['this checkout', REPO]];
  const results = new Map<string, RunResult[]>(variants.map(([name]) => [name, []]));
  for (let run = 0; run < o.runs; run++) {
    for (const [name, root] of run % 2 === 0 ? variants : [...variants].reverse()) {
      const profileDir = o.cpuProf ? join(o.cpuProf, `run-${run + 1}-${root === REPO ? 'new' : 'old'}`) : null;
      results.get(name)!.push(await runChild(root, o, profileDir));
    }
  }
  const med = (name: string, f: (r: RunResult) => number) => median(results.get(name)!.map(f));
  const rows = variants.map(([name]) => {
    const rs = results.get(name)!;
    return [
      name,
      String(rs.length),
      med(name, (r) => r.jobMs).toFixed(1),
      med(name, (r) => r.jobP90Ms).toFixed(1),
      med(name, (r) => r.commitMs).toFixed(1),
      med(name, (r) => r.commitMeanMs).toFixed(1),
      med(name, (r) => r.commitMaxMs).toFixed(0),
      med(name, (r) => r.gcMs).toFixed(1),
      (med(name, (r) => r.writtenPerBatch) / 1048576).toFixed(1),
      fmtInt(med(name, (r) => r.windowsPerBatch)),
      fmtInt(med(name, (r) => r.bytesPerDevice)),
      ...(o.allocProfile ? [(med(name, (r) => r.allocPerBatch) / 1048576).toFixed(1)] : []),
      rs.map((r) => `${r.jobMs.toFixed(0)}+${r.commitMeanMs.toFixed(0)}`).join(' / '),
    ];
  });
  console.log(
    table(['engine', 'runs', 'job ms/batch', 'job p90', 'commit ms/batch', 'commit mean', 'commit max', 'GC ms/batch', 'MB written/batch', 'windows/batch', 'live B/device (heap + array buffers)', ...(o.allocProfile ? ['allocated MB/batch'] : []), 'runs (job + mean commit ms)'], rows),
  );
  if (o.compare) {
    const [a, b] = variants.map(([n]) => n);
    const ratio = (f: (r: RunResult) => number) => (med(a, f) / med(b, f)).toFixed(2);
    console.log(
      `old / new: job ${ratio((r) => r.jobMs)}, commit ${o.store === 'yes' ? ratio((r) => r.commitMs) : '—'}, MB written ${o.store === 'yes' ? ratio((r) => r.writtenPerBatch) : '—'}, job + mean commit ${ratio((r) => r.jobMs + r.commitMeanMs)}, ` +
        `windows ${ratio((r) => r.windowsPerBatch)}, live bytes/device ${ratio((r) => r.bytesPerDevice)}`,
    );
  }
  console.log(reproduce('engine-fleet', args));
  return 0;
}

serveRun(child);
