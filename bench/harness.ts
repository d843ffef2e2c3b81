/**
 * What the end-to-end benchmarks share: the load generator child process, the measurements taken in the server's
 * process (peak RSS, CPU), medians, tables, and the machine description.
 */
import { fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ChildMessage, HostJob, LoadResult, LoadSpec, ParentMessage } from './protocol.ts';

/** The repository; this code also runs bundled, from bench/dist/server-host.mjs (see runHosted). */
export const REPO = fileURLToPath(new URL(import.meta.url.endsWith('.mjs') ? '../..' : '..', import.meta.url));
const LOADGEN = join(REPO, 'bench/loadgen.ts');
const SERVER_HOST = join(REPO, 'bench/server-host.ts');
const SERVER_HOST_BUNDLE = join(REPO, 'bench/dist/server-host.mjs');

/**
 * The node flags `npm start` and `npm run demo` give the server (package.json's scripts.start: `… node <flags>
 * server/dist/main.mjs`), so that what is measured is what users run.
 */
export const SERVER_NODE_FLAGS: readonly string[] = (() => {
  const start: string = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.start;
  const words = start.split(/\s+/);
  const node = words.indexOf('node');
  const script = words.findIndex((w, i) => i > node && !w.startsWith('-'));
  return node >= 0 && script > node ? words.slice(node + 1, script) : [];
})();

/** The server as `npm start` runs it: the bundle of server/build.ts (`npm run bench` builds it first). */
export const SERVER_BUNDLE = join(REPO, 'server/dist/main.mjs');

/**
 * In runHosted's `env`: the host and the server run from their TypeScript through tsx, not bundled, for a CPU profile
 * whose frames name the source files (bench/profile.ts).
 */
export const FROM_SOURCE = 'THERMOSTREAM_BENCH_FROM_SOURCE';

/**
 * startThermostream from the bundle, so that the server's threads run what users run (no TypeScript loader); from
 * source under FROM_SOURCE.
 */
export async function bundledServer(): Promise<typeof import('../server/main.ts')> {
  // By a computed URL, so that bundling the host (buildHost) does not take the server's source into the bundle.
  if (process.env[FROM_SOURCE] === '1') return (await import(pathToFileURL(join(REPO, 'server/main.ts')).href)) as typeof import('../server/main.ts');
  if (!existsSync(SERVER_BUNDLE)) throw new UsageError(`${SERVER_BUNDLE} is missing: run \`npm run build:server\` (\`npm run bench\` does)`);
  return (await import(pathToFileURL(SERVER_BUNDLE).href)) as typeof import('../server/main.ts');
}

/** Whether a job runs Thermostream (the other jobs run a baseline: bare aedes, Mosquitto and its subscriber). */
const runsThermostream = (job: HostJob): boolean => job.kind === 'thermostream' || job.kind === 'latency' || (job.kind === 'memory' && job.target !== 'bare');

let hostBuilt: Promise<unknown> | null = null;

/**
 * bench/server-host.ts bundled into plain JavaScript (once per benchmark process), like the server it runs: its
 * process then carries no TypeScript loader (tsx's costs a thread tens of MB of RSS), so the server's RSS and CPU are
 * measured as `npm start` runs it, and the baselines' as a user's plain JavaScript would run.
 */
function buildHost(): Promise<unknown> {
  // Imported here, not at the top: the host itself need not load esbuild.
  return (hostBuilt ??= import('../server/build.ts').then(({ bundleForNode }) => bundleForNode({ entryPoints: [SERVER_HOST], outfile: SERVER_HOST_BUNDLE })));
}

/**
 * Runs one job in a fresh server-host process (`node [nodeFlags] bench/dist/server-host.mjs`, bundled by buildHost)
 * and returns its result. The host forks the load generator itself, so the tree is: this process (idle) → server
 * host → generator. Thermostream runs with `nodeFlags`, or if null with SERVER_NODE_FLAGS (as `npm start` runs it); a
 * baseline with none.
 */
export async function runHosted<R>(job: HostJob, nodeFlags: readonly string[] | null = null, env: NodeJS.ProcessEnv = process.env): Promise<R> {
  const flags = runsThermostream(job) ? (nodeFlags ?? SERVER_NODE_FLAGS) : [];
  const fromSource = env[FROM_SOURCE] === '1';
  if (!fromSource) await buildHost();
  const [host, loader] = fromSource ? [SERVER_HOST, ['--import', 'tsx']] : [SERVER_HOST_BUNDLE, []];
  const child = fork(host, [JSON.stringify(job)], { cwd: REPO, execArgv: [...flags, ...loader], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let result: R | undefined;
  child.on('message', (m: { type: string; result: R }) => {
    if (m.type === 'result') result = m.result;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (result === undefined) throw new Error(`server host exited with code ${code} without a result`);
  return result;
}

/**
 * A benchmark whose runs each take a fresh process (its heap and JIT its own): forkRun() starts the module `self`
 * again, as `node [execArgv] --import tsx self --child ROOT OPTIONS`, and resolves to the result that run sends;
 * serveRun(), called at the module's top level, is that process's side.
 */
export function forkRun<R>(self: string, root: string, options: unknown, execArgv: readonly string[]): Promise<R> {
  const c = fork(self, ['--child', root, JSON.stringify(options)], { cwd: REPO, execArgv: [...execArgv, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<R>((resolveRun, reject) => {
    let r: R | undefined;
    c.on('message', (m) => (r = m as R));
    c.on('exit', (code) => (r !== undefined ? resolveRun(r) : reject(new Error(`${self} --child ${root} exited with ${code}`))));
  });
}

/** In a process forkRun() started: runs `run(root, options)` and sends its result back (else does nothing). */
export function serveRun<O, R>(run: (root: string, options: O) => Promise<R>): void {
  if (process.argv[2] !== '--child') return;
  run(process.argv[3], JSON.parse(process.argv[4]) as O).then(
    (r) => {
      process.send!(r);
      process.disconnect();
    },
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    },
  );
}

/** Options every end-to-end benchmark accepts. */
export interface CommonOptions {
  runs: number;
  count: number;
  connections: number;
  window: number;
  client: 'raw' | 'mqttjs';
  timeLimitMs: number;
  pollMs: number;
  /** Where Thermostream's batch work runs (config.batchThread) in runs whose scenario does not say. */
  batchThread: 'worker' | 'main';
  /** Thermostream's batchIntervalMs (--batch-interval); absent: 1,000 ms, the configuration's default. */
  batchIntervalMs?: number;
  /** Thermostream's blockIntervalMs; null: the configuration's default. */
  blockIntervalMs: number | null;
  /** Thermostream's heapGrowthPercent; null: the configuration's default. */
  heapGrowthPercent: number | null;
  /**
   * Node flags for Thermostream's process (both its threads: V8's flags are the process's); null: those of `npm start`
   * (SERVER_NODE_FLAGS). Baselines always run with none.
   */
  nodeFlags: string[] | null;
  /** Extra load generator settings a benchmark passes to every run (paced rate, connection groups). */
  spec?: Partial<Pick<LoadSpec, 'ratePerSec' | 'connectBatch' | 'stallMs' | 'devicesPerConnection'>>;
}

export const COMMON_DEFAULTS: CommonOptions = {
  runs: 3,
  count: 300_000,
  connections: 100,
  window: 200,
  client: 'raw',
  timeLimitMs: 120_000,
  pollMs: 25,
  batchThread: 'worker',
  blockIntervalMs: null,
  heapGrowthPercent: null,
  nodeFlags: null,
};

export const COMMON_HELP = `  --runs N            runs per scenario, interleaved (default ${COMMON_DEFAULTS.runs}); the median is reported
  --count N           readings per run (default ${COMMON_DEFAULTS.count})
  --connections N     MQTT connections, one device each (default ${COMMON_DEFAULTS.connections})
  --window N          QoS 1 unacknowledged publishes per connection (default ${COMMON_DEFAULTS.window})
  --client raw|mqttjs load generator client (default raw: pre-encoded packets over net sockets)
  --time-limit S      hard limit per run in seconds (default ${COMMON_DEFAULTS.timeLimitMs / 1000})
  --batch-thread T    Thermostream's batchThread, worker or main (default worker; the ingest scenarios *-main say main)
  --batch-interval MS Thermostream's batchIntervalMs (default 1000; the latency benchmark takes --intervals instead)
  --block-interval MS Thermostream's blockIntervalMs (default: the configuration's, 50; 0 = a batch's work all at its time)
  --heap-growth P     Thermostream's heapGrowthPercent (default: the configuration's, 20; 0 = V8's own heap growth)
  --node-flags "..."  node flags for Thermostream's process (default: those of npm start, "${SERVER_NODE_FLAGS.join(' ')}";
                      "" for none); baselines run with none`;

/** Parses `--key value` pairs; `keys` maps each accepted flag to a parser. Unknown flags are an error. */
export function parseFlags<T extends object>(args: readonly string[], defaults: T, keys: Record<string, (v: string, o: T) => void>): T {
  const o = { ...defaults };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const set = keys[name];
    if (set === undefined) throw new UsageError(`unknown option ${a}`);
    const v = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (v === undefined) throw new UsageError(`option ${name} needs a value`);
    set(v, o);
  }
  return o;
}

export class UsageError extends Error {}

/** The value of option `name` if it is one of `values`, else a UsageError listing them. */
export function oneOf<T extends string>(name: string, v: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(v)) {
    const list = values.length === 2 ? values.join(' or ') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
    throw new UsageError(`${name} must be ${list}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** openWindowRefresh values, for the benchmarks' --open-window-refresh. */
export const REFRESH_MODES = ['slide', 'batch', 'final'] as const;

/**
 * --windows: window shapes as `length/slide` pairs in ms, comma-separated (`60000/10000,300000/60000`), the
 * configuration's `windows` for the benchmarks that run the engine.
 */
export function windowShapes(name: string, v: string): { lengthMs: number; slideMs: number }[] {
  return v.split(',').map((pair) => {
    const m = /^(\d+)\/(\d+)$/.exec(pair.trim());
    if (m === null) throw new UsageError(`${name} lists length/slide pairs in ms, e.g. 60000/10000,300000/60000; got ${JSON.stringify(pair)}`);
    return { lengthMs: positiveInt(`${name} length`, m[1]), slideMs: positiveInt(`${name} slide`, m[2]) };
  });
}

/** How a run's windows are described: the configured pairs, or the server's defaults. */
export function describeWindows(windows: readonly { lengthMs: number; slideMs: number }[] | null | undefined): string {
  return windows ? `windows ${windows.map((w) => `${w.lengthMs}/${w.slideMs}`).join(',')}` : 'default windows';
}

export function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

export const commonFlags: Record<string, (v: string, o: CommonOptions) => void> = {
  '--runs': (v, o) => (o.runs = positiveInt('--runs', v)),
  '--count': (v, o) => (o.count = positiveInt('--count', v)),
  '--connections': (v, o) => (o.connections = positiveInt('--connections', v)),
  '--window': (v, o) => (o.window = positiveInt('--window', v)),
  '--client': (v, o) => (o.client = oneOf('--client', v, ['raw', 'mqttjs'] as const)),
  '--time-limit': (v, o) => (o.timeLimitMs = positiveInt('--time-limit', v) * 1000),
  '--batch-thread': (v, o) => (o.batchThread = oneOf('--batch-thread', v, ['worker', 'main'] as const)),
  '--batch-interval': (v, o) => (o.batchIntervalMs = positiveInt('--batch-interval', v)),
  '--block-interval': (v, o) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--block-interval must be an integer ≥ 0 (ms), got ${JSON.stringify(v)}`);
    o.blockIntervalMs = n;
  },
  '--heap-growth': (v, o) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0 || n > 300) throw new UsageError(`--heap-growth must be an integer from 0 to 300 (%), got ${JSON.stringify(v)}`);
    o.heapGrowthPercent = n;
  },
  '--node-flags': (v, o) => (o.nodeFlags = v.split(' ').filter(Boolean)),
};

/**
 * The load generator, as a child process: `node --import tsx bench/loadgen.ts` with an explicit execArgv, so a
 * `--cpu-prof` given to the server's process is not inherited by it.
 */
export class LoadGenerator {
  private readonly child;
  private readonly messages: ChildMessage[] = [];
  private waiter: ((m: ChildMessage) => void) | null = null;
  private exited: Promise<number | null>;

  constructor(spec: LoadSpec) {
    this.child = fork(LOADGEN, [JSON.stringify(spec)], { cwd: REPO, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: ChildMessage) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(m);
      } else this.messages.push(m);
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The next message; rejects if the child reports an error, exits, or `timeoutMs` passes. */
  async next(timeoutMs: number): Promise<ChildMessage> {
    const queued = this.messages.shift();
    if (queued) return check(queued);
    let timer: NodeJS.Timeout | undefined;
    try {
      const m = await Promise.race([
        new Promise<ChildMessage>((resolve) => (this.waiter = resolve)),
        this.exited.then((code): never => {
          throw new Error(`load generator exited with code ${code}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`load generator: no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return check(m);
    } finally {
      clearTimeout(timer);
      this.waiter = null;
    }
  }

  send(m: ParentMessage): void {
    this.child.send(m);
  }

  /** Asks it to disconnect and exit; kills it if it does not within 10 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'close' } satisfies ParentMessage);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

function check(m: ChildMessage): ChildMessage {
  if (m.type === 'error') throw new Error(`load generator failed: ${m.message}`);
  return m;
}

/** Samples this process's RSS (the server's process) while a run lasts; also the kernel's high-water mark. */
export class RssSampler {
  private timer: NodeJS.Timeout;
  max = 0;
  private readonly hwmReset: boolean;

  constructor(everyMs = 50) {
    // Writing 5 to clear_refs resets VmHWM (Linux ≥ 4.0), so the kernel's peak covers this run only.
    let reset = false;
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      reset = true;
    } catch {
      // not Linux, or not allowed: sampling alone
    }
    this.hwmReset = reset;
    this.max = process.memoryUsage.rss();
    this.timer = setInterval(() => {
      const r = process.memoryUsage.rss();
      if (r > this.max) this.max = r;
    }, everyMs);
  }

  /** Peak RSS in bytes: the kernel's VmHWM when it could be reset, else the sampled maximum. */
  stop(): number {
    clearInterval(this.timer);
    if (this.hwmReset) {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m) return Math.max(this.max, Number(m[1]) * 1024);
    }
    return this.max;
  }
}

/**
 * Peak RSS and CPU of other processes (Mosquitto and its subscriber) over a run, from /proc: VmHWM after resetting
 * it through /proc/PID/clear_refs, and utime + stime (clock ticks, 100 per second on Linux).
 */
export class ProcSampler {
  private readonly cpu0: number[];
  private readonly reset: boolean;
  private readonly timer: NodeJS.Timeout;
  private readonly max: number[];

  constructor(private readonly pids: readonly number[]) {
    let reset = true;
    for (const pid of pids) {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
      } catch {
        reset = false;
      }
    }
    this.reset = reset;
    this.cpu0 = pids.map(cpuTicks);
    this.max = pids.map(rssOf);
    this.timer = setInterval(() => pids.forEach((p, i) => (this.max[i] = Math.max(this.max[i], rssOf(p)))), 50);
  }

  /** Sum over the processes of their peak RSS (bytes) and CPU used since the start (ms). */
  stop(): { peakRss: number; cpuMs: number } {
    clearInterval(this.timer);
    let peakRss = 0;
    let cpuMs = 0;
    this.pids.forEach((pid, i) => {
      const hwm = this.reset ? statusKb(pid, 'VmHWM') * 1024 : 0;
      peakRss += Math.max(hwm, this.max[i]);
      cpuMs += (cpuTicks(pid) - this.cpu0[i]) * 10;
    });
    return { peakRss, cpuMs };
  }
}

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Current RSS of a process in bytes (0 if it is gone). */
export function rssOf(pid: number): number {
  return statusKb(pid, 'VmRSS') * 1024;
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15: utime, stime
  } catch {
    return 0;
  }
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const fmtInt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
export const fmtMB = (bytes: number): string => (Number.isFinite(bytes) ? `${Math.round(bytes / 1048576)} MB` : '—');
export const fmtRatio = (r: number): string => (Number.isFinite(r) ? r.toFixed(2) : '—');
export const fmtPct = (r: number): string => (Number.isFinite(r) ? `${Math.round(r * 100)}%` : '—');

/** A Markdown table (it reads fine on a terminal too). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : '-'.repeat(w - 1) + ':')).join(' | ')} |`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

export function machine(): string {
  let model = cpus()[0]?.model ?? 'unknown CPU';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) model = m[1];
  } catch {
    // not Linux
  }
  return `${cpus().length} cores (${model}), node ${process.version}, ${process.platform}`;
}

/** The command that reproduces a run with these arguments. */
export function reproduce(name: string, args: readonly string[]): string {
  return `npm run bench -- ${[name, ...args].join(' ')}`;
}

export type { LoadResult, LoadSpec };
