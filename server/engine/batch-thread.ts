import { Worker } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { ThermostreamError, type ErrorCode } from '../errors.ts';
import type { RawCut } from '../ingest/index.ts';
import type { RecoveredState, Store } from '../store/index.ts';
import { BatchRunner, type CommitResult } from './batch-runner.ts';
import type { RecentQuery } from './recent-readings.ts';

/**
 * The engine's batch side as the main thread sees it: BatchRunner's methods, asynchronous, whichever thread runs
 * them. One call at a time is what the engine makes; the worker answers in order anyway.
 */
export interface BatchSide {
  /** A block of the open batch's readings, processed ahead of the batch's end (BatchRunner.add). */
  add(block: RawCut): Promise<void>;
  /**
   * `inputAt`: when input last arrived (the log's inputAt(now)), for the watermark's idleness. `deviceWindows`: the
   * batch's device windows come back with it (someone on the main thread reads them), else only its fleet windows.
   */
  run(cut: RawCut, now: number, inputAt: number, deviceWindows: boolean): Promise<CommitResult>;
  commitAgain(): Promise<CommitResult>;
  flushOpenWindows(): Promise<void>;
  prune(now: number): Promise<number>;
  recentReadings(deviceId: string, from: number, to: number, now: number): Promise<RecentQuery>;
  /** Stops the batch side (the worker closes its store connection and exits). */
  close(): Promise<void>;
}

export type BatchOp = keyof BatchSide;

/** What the worker is started with (workerData). */
export interface BatchWorkerData {
  config: Config;
  startedAt: number;
  /** THERMOSTREAM_FAULT, for the crash and full-disk tests: the worker's store runs the fault hooks. */
  faults: string | undefined;
  /** The main thread's store's instance lock (Store.instanceLock): the worker's store commits under it. */
  instanceLock: string | null;
}

export type BatchRequest = { id: number; op: BatchOp; args: unknown[] };
/** The answer to request `id`; id READY answers the start (store open, state restored), or says why it failed. */
export type BatchReply = { id: number; value?: unknown; error?: { message: string; code?: string } };
export const READY = -1;

/** An error as plain data, to cross between threads with its code. */
export function errorReply(err: unknown): { message: string; code?: string } {
  const code = (err as { code?: unknown }).code;
  return { message: (err as Error).message, ...(typeof code === 'string' && { code }) };
}

function errorOf({ message, code }: { message: string; code?: string }): Error {
  if (code?.startsWith('TS_ERR_')) return new ThermostreamError(code as ErrorCode, message);
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

/** The batch side on the calling thread (batchThread "main"): the main thread's store commits. */
export function mainThreadBatches(config: Config, store: Store, recovered: RecoveredState | null, startedAt: number): BatchSide {
  const runner = new BatchRunner(config, store, recovered, startedAt);
  return {
    add: async (block) => runner.add(block),
    run: (cut, now, inputAt, deviceWindows) => runner.run(cut, now, inputAt, deviceWindows),
    commitAgain: () => runner.commitAgain(),
    flushOpenWindows: async () => runner.flushOpenWindows(),
    prune: (now) => runner.prune(now),
    recentReadings: async (deviceId, from, to, now) => runner.recentReadings(deviceId, from, to, now),
    close: async () => {},
  };
}

/**
 * The batch side in a worker thread (batchThread "worker", the default): cut decoding, the telemetry job and the
 * store's commit run there, on their own store connection, while the main thread goes on with the broker, ingest
 * and HTTP. A cut crosses as the log's bytes; a committed batch comes back as its figures and results. Resolves
 * once the worker has opened its store and restored the job's state from the checkpoint.
 */
export async function workerBatches(data: BatchWorkerData, onFatal: (err: Error) => void): Promise<BatchSide> {
  // Built (server/build.ts), this code is in server/dist/main.mjs and the worker's module beside it is plain JavaScript;
  // from source, the thread runs the TypeScript through tsx (thread-boot.mjs).
  const options = { workerData: data, name: 'batch' };
  const worker = import.meta.url.endsWith('.mjs')
    ? new Worker(new URL('./batch-worker.mjs', import.meta.url), options)
    : new Worker(new URL('../thread-boot.mjs', import.meta.url), { ...options, argv: [new URL('./batch-worker.ts', import.meta.url).href] });
  const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let gone: Error | null = null;
  let closing = false;

  let started = false;
  /** The thread is gone: every call waiting for it fails, and once the engine runs, the server must stop. */
  const lost = (err: Error): void => {
    if (gone !== null) return;
    gone = err;
    for (const { reject } of calls.values()) reject(err);
    calls.clear();
    if (started) onFatal(err);
  };
  worker.on('message', (reply: BatchReply) => {
    const call = calls.get(reply.id);
    if (call === undefined) return;
    calls.delete(reply.id);
    if (reply.error === undefined) call.resolve(reply.value);
    else call.reject(errorOf(reply.error));
  });
  worker.on('error', (err) => lost(new Error(`the batch thread failed: ${err.message}`)));
  worker.on('exit', (code) => {
    if (!closing) lost(new Error(`the batch thread exited (code ${code})`));
  });

  function call<T>(op: BatchOp, ...args: unknown[]): Promise<T> {
    if (gone !== null) return Promise.reject(gone);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // A cut's bytes are handed over, not copied, where they own their memory (the log no longer needs them).
      const buffers = op === 'run' || op === 'add' ? (args[0] as RawCut).buffers : [];
      const transfer = buffers.filter((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength).map((b) => b.buffer as ArrayBuffer);
      worker.postMessage({ id, op, args } satisfies BatchRequest, transfer);
    });
  }

  await new Promise((resolve, reject) => calls.set(READY, { resolve, reject })).catch(async (err: Error) => {
    closing = true;
    await worker.terminate();
    throw err;
  });
  started = true;
  return {
    add: (block) => call('add', block),
    run: (cut, now, inputAt, deviceWindows) => call('run', cut, now, inputAt, deviceWindows),
    commitAgain: () => call('commitAgain'),
    flushOpenWindows: () => call('flushOpenWindows'),
    prune: (now) => call('prune', now),
    recentReadings: (deviceId, from, to, now) => call('recentReadings', deviceId, from, to, now),
    async close() {
      if (gone !== null || closing) return;
      await call('close');
      closing = true;
      await worker.terminate();
    },
  };
}
