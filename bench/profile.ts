/**
 * Where the server's time goes: one ingest run under `node --cpu-prof`, summarised by self time.
 *
 *   npm run bench -- profile [--scenarios qos1] [--count 300000] [other ingest options]
 *   npm run bench -- profile --summarise FILE.cpuprofile [--marks FILE.json]
 *
 * The first form runs one ingest run (QoS 1 durable by default) with the server's process started as
 * `node --cpu-prof --cpu-prof-dir .tmp/bench-profile/<time> --import tsx bench/server-host.ts`, from source (FROM_SOURCE:
 * the frames name the source files; the other benchmarks run the host and the server bundled) (the load generator is
 * forked with its own execArgv and is not profiled), then summarises the server's profile over
 * the measured window only — from the first publish to the last reading processed — which the run records in a
 * marks file (BENCH_PROFILE_MARKS), so start-up, module compilation and shutdown do not dilute the figures.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { FROM_SOURCE, REPO, runHosted, SERVER_NODE_FLAGS, UsageError } from './harness.ts';
import { describeRun, parseIngestArgs, type RunResult } from './ingest.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Marks {
  /** process.hrtime in µs, the clock V8's profiler stamps samples with. */
  startUs: number;
  endUs: number;
}

/** Where a function lives, coarsely: a package, a server stage, a node built-in, or a V8 pseudo-frame. */
export function areaOf(f: CallFrame): string {
  const url = f.url;
  if (url === '') return f.functionName.startsWith('(') ? f.functionName : '(native / builtin)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const srv = /\/(server|bench)\/([^/]+)/.exec(url); // a server stage's directory (its subdirectories in it), or a file
  if (srv) return `${srv[1]}/${srv[2]}`;
  return url;
}

export function shortUrl(url: string): string {
  if (url.startsWith('file://')) {
    const p = decodeURIComponent(url.slice(7));
    const nm = p.lastIndexOf('node_modules/');
    return nm >= 0 ? p.slice(nm + 13) : relative(REPO, p);
  }
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  functions: { name: string; where: string; selfMs: number }[];
  areas: { area: string; selfMs: number }[];
}

export function summariseProfile(profile: CpuProfile, marks: Marks | null): ProfileSummary {
  const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // A sample's time is the interval until the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (marks && (t < marks.startUs || t > marks.endUs)) continue;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const fns = new Map<string, { name: string; where: string; selfMs: number }>();
  const areas = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') idle += us;
    // tsx-compiled sources report line 1 for every function: the file alone says more.
    const where = f.url ? (f.url.endsWith('.ts') ? shortUrl(f.url) : `${shortUrl(f.url)}:${f.lineNumber + 1}`) : '';
    const key = `${f.functionName}@${where}`;
    const e = fns.get(key) ?? { name: f.functionName || '(anonymous)', where, selfMs: 0 };
    e.selfMs += us / 1000;
    fns.set(key, e);
    const a = areaOf(f);
    areas.set(a, (areas.get(a) ?? 0) + us / 1000);
  }
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    functions: [...fns.values()].sort((a, b) => b.selfMs - a.selfMs),
    areas: [...areas].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function printSummary(s: ProfileSummary, top = 30): void {
  const pct = (ms: number, of: number): string => `${((ms / of) * 100).toFixed(1)}%`.padStart(6);
  const cols = (ms: number): string => `${pct(ms, s.busyMs)} ${pct(ms, s.totalMs)}  ${ms.toFixed(0).padStart(6)} ms`;
  console.log(`profile: ${s.totalMs.toFixed(0)} ms of samples in the window, ${s.busyMs.toFixed(0)} ms not idle (${pct(s.busyMs, s.totalMs).trim()})`);
  console.log('\nself time by area (% of non-idle time, % of the window):');
  for (const a of s.areas.slice(0, 20)) console.log(`  ${cols(a.selfMs)}  ${a.area}`);
  console.log(`\ntop ${top} functions by self time (% of non-idle time, % of the window):`);
  for (const f of s.functions.slice(0, top)) console.log(`  ${cols(f.selfMs)}  ${f.name}  ${f.where}`);
}

export async function main(args: string[]): Promise<number> {
  const at = args.indexOf('--summarise');
  if (at >= 0) {
    const file = args[at + 1];
    if (!file) throw new UsageError('--summarise needs a .cpuprofile file');
    const mi = args.indexOf('--marks');
    const marks = mi >= 0 ? (JSON.parse(readFileSync(args[mi + 1], 'utf8')) as Marks) : null;
    printSummary(summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, marks));
    return 0;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(REPO, '.tmp', 'bench-profile', stamp);
  mkdirSync(dir, { recursive: true });
  const marksFile = join(dir, 'marks.json');
  const opts = parseIngestArgs(['--scenarios', 'qos1', ...args]);
  const scenario = opts.scenarios[0];
  console.log(`profile: one ${scenario} run, ${opts.count.toLocaleString('en-US')} readings, server process under node --cpu-prof --cpu-prof-dir ${relative(REPO, dir)}`);
  const run = await runHosted<RunResult>({ kind: 'thermostream', scenario, round: 1, opts }, [...(opts.nodeFlags ?? SERVER_NODE_FLAGS), '--cpu-prof', '--cpu-prof-dir', dir], {
    ...process.env,
    BENCH_PROFILE_MARKS: marksFile,
    [FROM_SOURCE]: '1', // frames named by their source files, for the areas below
  });
  console.log(describeRun(run));
  console.log('(the profiler slows the server down: this run\'s rate is not a benchmark figure)');
  const marks = JSON.parse(readFileSync(marksFile, 'utf8')) as Marks;
  // --cpu-prof writes one profile per thread (tsx's module-loader thread too): the server's is the busy one.
  let best: { file: string; s: ProfileSummary } | null = null;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const file = join(dir, name);
    const s = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, marks);
    if (best === null || s.busyMs > best.s.busyMs) best = { file, s };
  }
  if (best === null) {
    console.error(`profile: no .cpuprofile in ${dir}`);
    return 1;
  }
  console.log(`\nprofile: ${relative(REPO, best.file)} (open in Chrome DevTools → Performance, or speedscope); window ${relative(REPO, marksFile)}`);
  printSummary(best.s);
  console.log(`\nreproduce: npm run bench -- profile ${args.join(' ')}`.trimEnd());
  console.log(`re-read:   npm run bench -- profile --summarise ${relative(REPO, best.file)} --marks ${relative(REPO, marksFile)}`);
  return 0;
}
