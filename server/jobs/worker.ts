/**
 * Runs one job in its worker thread: routes its stdout/stderr to the runner as messages (so they stay in order
 * with its state), loads the module, calls the function, and waits for every streaming context the job started.
 * A stop request aborts `job.signal` and stops the job's contexts gracefully; a job that ignores it is terminated by
 * the runner after `jobs.stopTimeoutMs`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { observeContexts, type StreamingContext } from '../engine/dstream/context.ts';
import { setTelemetryDefaults } from '../engine/dstream/telemetry-stream.ts';
import { locateSyntaxError } from './load-error.ts';
import type { FromWorker, JobContext, JobFunction, JobWorkerData, ToWorker } from './protocol.ts';

const data = workerData as JobWorkerData;
const port = parentPort!;

/**
 * Output reaches the runner (on the server's thread) in chunks, at most OUTPUT_BYTES_PER_SECOND of it: a job that
 * prints in a tight loop costs the server a few dozen messages a second, not one per line. What is over the rate
 * is dropped, and the drop is said in the log.
 */
const OUTPUT_BYTES_PER_SECOND = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
/** Writes sent at once each second; beyond that, output is gathered and sent at least every FLUSH_MS. */
const IMMEDIATE_PER_SECOND = 100;
const FLUSH_MS = 50;
let lastFlush = 0;
let flushes = 0;
const pending = { stdout: '', stderr: '' };
let flushScheduled = false;
let windowStart = Date.now();
let windowBytes = 0;
let dropped = 0;

function flushOutput(): void {
  flushScheduled = false;
  for (const stream of ['stdout', 'stderr'] as const) {
    if (pending[stream] === '') continue;
    port.postMessage({ type: 'out', stream, text: pending[stream] } satisfies FromWorker);
    pending[stream] = '';
    lastFlush = Date.now();
    flushes++;
  }
}

function noteDrops(): void {
  if (dropped > 0) pending.stderr += `[thermostream] ${dropped} bytes of output dropped: the job wrote more than ${OUTPUT_BYTES_PER_SECOND} bytes/s\n`;
  dropped = 0;
}

function output(stream: 'stdout' | 'stderr', text: string): void {
  const now = Date.now();
  if (now - windowStart >= 1000) {
    noteDrops();
    windowStart = now;
    windowBytes = 0;
    flushes = 0;
  }
  if (windowBytes + text.length > OUTPUT_BYTES_PER_SECOND) {
    dropped += text.length;
    return;
  }
  windowBytes += text.length;
  pending[stream] += text;
  // A job that writes a line now and then has it sent at once (even if it then blocks its thread); one that writes
  // in a loop has its output gathered.
  if (flushes < IMMEDIATE_PER_SECOND || pending[stream].length >= CHUNK_BYTES || now - lastFlush >= FLUSH_MS) flushOutput();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushOutput);
  }
}

/** State messages flush the output first, so the log keeps the order in which things happened. */
const send = (message: FromWorker): void => {
  noteDrops();
  flushOutput();
  port.postMessage(message);
};

for (const stream of ['stdout', 'stderr'] as const) {
  const target = process[stream];
  target.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
    output(stream, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (typeof cb === 'function') cb();
    return true;
  }) as typeof target.write;
}

const contexts: StreamingContext[] = [];
const abort = new AbortController();
let stopping = false;

/**
 * A graceful stop, promptly: what was received is processed at once, each batch keeping its time, as the server's own
 * telemetry job stops. Waiting for each batch's time, a job of a long batch interval (a minute) would outlast
 * jobs.stopTimeoutMs and be terminated with what it had received unprocessed.
 */
const stopContext = (ctx: StreamingContext): void => void ctx.stop({ graceful: true, promptly: true });

observeContexts((ctx) => {
  contexts.push(ctx);
  if (stopping) queueMicrotask(() => stopContext(ctx));
});
setTelemetryDefaults({ logDir: data.logDir, afterOffset: data.afterOffset, dedupe: data.dedupe });

port.on('message', (message: ToWorker) => {
  if (message.type !== 'stop' || stopping) return;
  stopping = true;
  abort.abort(new Error('the job was asked to stop'));
  for (const ctx of contexts) stopContext(ctx);
  // The port would keep the thread alive once the job is done.
  port.unref();
});

const job: JobContext = {
  id: data.id,
  name: data.name,
  args: data.args,
  startOffset: data.afterOffset,
  conf: data.conf,
  signal: abort.signal,
  log: (message) => output('stdout', `${message}\n`),
};

try {
  const mod = await importJob(data.url).catch(async (err: unknown) => {
    throw (await locateSyntaxError(data.url, err)) ?? err;
  });
  const exportName = data.className ?? 'default';
  const fn = mod[exportName];
  if (typeof fn !== 'function') {
    const functions = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    const missing = new Error(
      `${data.className === null ? 'the module has no default export function' : `the module exports no function named ${JSON.stringify(data.className)}`}` +
        ` (exported functions: ${functions.join(', ') || 'none'}; set className to one of them)`,
    );
    missing.stack = `Error: ${missing.message}`; // the request's mistake: a stack of this file would only mislead
    throw missing;
  }
  if (!stopping) {
    send({ type: 'running' });
    await (fn as JobFunction)([...data.args], job);
    // Forgetting ctx.start() would otherwise look like a job that succeeded with nothing to say.
    const idle = contexts.filter((c) => c.state === 'initialized').length;
    if (idle > 0 && !stopping) {
      output('stderr', `[thermostream] ${new Date().toISOString()} job ${data.id}: returned without starting ${idle} of its ${contexts.length} streaming contexts (ctx.start()): they computed nothing\n`);
    }
    // A job may start its contexts and return: it is done once they have all terminated.
    await Promise.all(contexts.filter((c) => c.state !== 'initialized').map((c) => c.awaitTermination()));
  }
  send({ type: 'done' });
} catch (err) {
  send({ type: 'failed', error: describe(err) });
}
// Whatever the job left open (sockets, timers) must not keep a finished job alive.
process.exit(0);

/**
 * The job module's namespace, imported by a JavaScript module: tsx resolves a `.js` file imported from TypeScript
 * (this file) to the `.ts` file of the same name, as TypeScript's own imports mean it, which ran `jobs/x.ts` for a
 * request for `jobs/x.js` whenever both existed.
 */
async function importJob(url: string): Promise<Record<string, unknown>> {
  const file = fileURLToPath(url);
  if (isCommonJs(file)) {
    // Required by tsx's require hook under its own file name: imported, tsx hands Node a data: URL of the compiled
    // code, and every stack frame of the job named that URL (its whole source) instead of the job's file and line.
    const exports = createRequire(url)(file) as Record<string, unknown>;
    return exports?.__esModule === true ? exports : { ...exports, default: exports };
  }
  const source = `import * as job from ${JSON.stringify(url)}; export default job;`;
  const ns = ((await import(`data:text/javascript,${encodeURIComponent(source)}`)) as { default: Record<string, unknown> }).default;
  // A job outside an ESM package is CommonJS compiled by tsx: its exports are the namespace's default.
  const cjs = ns.default as Record<string, unknown> | undefined;
  return typeof cjs === 'object' && cjs !== null && cjs.__esModule === true ? cjs : ns;
}

/** Whether Node takes `file` as CommonJS: a .js or .ts file whose nearest package.json does not say "type": "module". */
function isCommonJs(file: string): boolean {
  if (!/\.[jt]s$/.test(file)) return false; // .mjs, .mts
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type !== 'module';
      } catch {
        return false; // Node's import says what is wrong with it
      }
    }
    if (dirname(dir) === dir) return true;
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let text = err.stack ?? `${err.name}: ${err.message}`;
  for (let cause = err.cause; cause instanceof Error; cause = cause.cause) text += `\ncaused by: ${cause.stack ?? cause.message}`;
  return text;
}
