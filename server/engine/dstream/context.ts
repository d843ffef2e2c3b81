/**
 * StreamingContext: owns the input streams and output operations, and runs one batch every batch interval.
 *
 * Batch times are zero + k·interval (k ≥ 1), zero being the clock's time at `start()`. At each batch time the
 * timer cuts the inputs (what they received since the previous batch time) into a batch and queues it; batches are
 * processed one at a time, in order, so a batch that overruns the interval delays the next one (its scheduling
 * delay grows) and never overlaps it. Processing a batch computes the stateful streams, then runs the output
 * operations in the order they were registered, awaiting each.
 */
import { systemClock, type Clock } from '../../clock.ts';
import { checkDuration } from './duration.ts';
import type { BatchFn, DStream } from './dstream.ts';
import { DStreamError, DStreamErrorCodes, contextState, invalidArgument } from './errors.ts';
import { TextFileSource, type TextFileOptions } from './file.ts';
import {
  InputDStream,
  PushInputDStream,
  queueStream,
  receiverStream,
  type Receiver,
} from './input.ts';
import { SocketTextReceiver, type SocketTextOptions } from './socket.ts';
import { BatchLog, type BatchInfo, type StreamingStats } from './stats.ts';
import { TelemetryDStream, TelemetrySource, type TelemetryStreamOptions } from './telemetry-stream.ts';

export type ContextState = 'initialized' | 'active' | 'stopped';

export interface StreamingContextOptions {
  /** Source of time and timers. Default: the system clock. */
  clock?: Clock;
  /** Where `print()` writes, one line per call. Default: stdout. */
  out?: (line: string) => void;
  /** Diagnostics (receiver reconnects, failed batches, unreadable files). Default: stderr. */
  log?: (message: string) => void;
  /** How many recent batches `stats()` lists. Default 100. */
  retainedBatches?: number;
  /** How diagnostics and errors name a batch, given its time. Default `batch ${time}` (epoch ms). */
  batchName?: (time: number) => string;
}

interface OutputOp {
  stream: DStream<unknown>;
  fn: BatchFn<unknown>;
}

interface BatchJob {
  time: number;
  submissionTime: number;
  blocks: Promise<readonly unknown[]>[];
}

class Deferred<T> {
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  readonly promise = new Promise<T>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });
}

/**
 * Kept on globalThis, shared by every copy of this module in the thread: a job outside an ESM package is CommonJS,
 * compiled by tsx's require hook, and gets a copy of its own, which the worker's copy would otherwise never hear of.
 */
const OBSERVER = Symbol.for('thermostream.dstream.contextObserver');
const shared = globalThis as { [OBSERVER]?: (ctx: StreamingContext) => void };

/**
 * @internal The job worker (server/jobs/worker.ts) learns of every context a job creates, so that a DELETE can ask
 * them to stop gracefully.
 */
export function observeContexts(fn: (ctx: StreamingContext) => void): void {
  shared[OBSERVER] = fn;
}

export class StreamingContext {
  readonly batchIntervalMs: number;
  readonly clock: Clock;
  /** @internal */
  readonly _out: (line: string) => void;
  /** @internal */
  readonly _log: (message: string) => void;
  private readonly batchName: (time: number) => string;
  /** @internal NaN until start */
  _zeroTime = Number.NaN;

  private currentState: ContextState = 'initialized';
  private readonly inputs: InputDStream<unknown>[] = [];
  private readonly outputs: OutputOp[] = [];
  private reachable: DStream<unknown>[] = [];
  private statefulStreams: DStream<unknown>[] = [];
  private timer: unknown;
  /** The time of the next batch to generate (its timer's). */
  private nextTime = Number.NaN;
  /** A graceful stop that runs the remaining batches at once instead of at their times. */
  private promptly = false;
  private halted = false;
  private readonly pending: BatchJob[] = [];
  private processing = false;
  private idleWaiters: (() => void)[] = [];
  private receiversStopped = false;
  private stopPromise: Promise<void> | undefined;
  private readonly generationEnded = new Deferred<void>();
  private readonly termination = new Deferred<void>();
  private failure: DStreamError | undefined;
  private readonly batchLog: BatchLog;
  private readonly listeners = new Set<(info: BatchInfo) => void>();

  constructor(batchIntervalMs: number, options: StreamingContextOptions = {}) {
    this.batchIntervalMs = checkDuration('batch interval', batchIntervalMs);
    this.clock = options.clock ?? systemClock;
    this._out = options.out ?? ((line) => void process.stdout.write(`${line}\n`));
    this._log = options.log ?? ((message) => void process.stderr.write(`[dstream] ${message}\n`));
    this.batchName = options.batchName ?? ((time) => `batch ${time}`);
    const retained = options.retainedBatches ?? 100;
    if (!Number.isSafeInteger(retained) || retained < 0) {
      throw invalidArgument('retainedBatches', retained, 'a non-negative integer');
    }
    this.batchLog = new BatchLog(retained);
    // Awaiting termination is optional: mark the promise handled so a failure is not an unhandled rejection.
    this.termination.promise.catch(() => {});
    shared[OBSERVER]?.(this);
  }

  get state(): ContextState {
    return this.currentState;
  }

  // ---- inputs ----

  /** Spark's queueStream, for tests: each batch takes the next array pushed into `queue` (or all of them). */
  queueStream<T>(queue: T[][], oneAtATime = true, defaultBatch: readonly T[] = []): DStream<T> {
    if (!Array.isArray(queue)) throw invalidArgument('queueStream queue', queue, 'an array of arrays');
    return queueStream(this, queue, oneAtATime, defaultBatch);
  }

  /** An input stream fed by `push(record)`; records pushed between two batch times form the next batch. */
  inputStream<T>(): PushInputDStream<T> {
    return new PushInputDStream<T>(this);
  }

  /** An input stream fed by a receiver, started and stopped with the context. */
  receiverStream<T>(receiver: Receiver<T>): DStream<T> {
    return receiverStream(this, receiver);
  }

  /** Lines of text read from a TCP server, reconnecting with backoff when refused or dropped. */
  socketTextStream(host: string, port: number, options: SocketTextOptions = {}): DStream<string> {
    if (typeof host !== 'string' || host === '') throw invalidArgument('socketTextStream host', host, 'a host name');
    if (!Number.isSafeInteger(port) || port < 1 || port > 65535) {
      throw invalidArgument('socketTextStream port', port, 'an integer from 1 to 65535');
    }
    if (options.minBackoffMs !== undefined) checkDuration('minBackoffMs', options.minBackoffMs);
    if (options.maxBackoffMs !== undefined) checkDuration('maxBackoffMs', options.maxBackoffMs);
    return receiverStream(this, new SocketTextReceiver(host, port, options), 'socketTextStream');
  }

  /**
   * Lines of the files that appear in `directory`, each file read once, whole. Write files under a name starting
   * with '.' or ending with '.tmp' (ignored), then rename them: see file.ts and docs/ENGINE.md.
   */
  textFileStream(directory: string, options: TextFileOptions = {}): DStream<string> {
    if (typeof directory !== 'string' || directory === '') {
      throw invalidArgument('textFileStream directory', directory, 'a directory path');
    }
    return new InputDStream<string>(this, 'textFileStream', new TextFileSource(directory, options, this._log));
  }

  /**
   * The server's live telemetry: the readings made durable in the ingest log, from where the job started (see
   * telemetry-stream.ts and docs/ENGINE.md). Inside a job run by the server no option is needed.
   */
  telemetryStream(options: TelemetryStreamOptions = {}): TelemetryDStream {
    if (options.maxBytesPerBatch !== undefined && (!Number.isSafeInteger(options.maxBytesPerBatch) || options.maxBytesPerBatch < 1)) {
      throw invalidArgument('telemetryStream maxBytesPerBatch', options.maxBytesPerBatch, 'a positive integer');
    }
    if (options.afterOffset !== undefined && (!Number.isSafeInteger(options.afterOffset) || options.afterOffset < 0)) {
      throw invalidArgument('telemetryStream afterOffset', options.afterOffset, 'a non-negative integer');
    }
    return new TelemetryDStream(this, new TelemetrySource(options, this._log));
  }

  /** The records of all `streams` at each batch time (they must share the same slide). */
  union<T>(first: DStream<T>, ...rest: DStream<T>[]): DStream<T> {
    return first.union(...rest);
  }

  // ---- lifecycle ----

  /** Starts receiving and generating batches. Throws if no output operation is registered. */
  start(): void {
    if (this.currentState !== 'initialized') throw contextState('start the streaming context', this.currentState);
    if (this.outputs.length === 0) {
      throw new DStreamError(
        DStreamErrorCodes.TS_ERR_NO_OUTPUT,
        'no output operations registered, so nothing to execute: add print() or foreachBatch() before start()',
      );
    }
    this._zeroTime = this.clock.now();
    for (const { stream } of this.outputs) stream._remember(stream.slideMs);
    this.reachable = reachableFrom(this.outputs.map((o) => o.stream));
    this.statefulStreams = this.reachable.filter((s) => s._stateful);
    this.currentState = 'active';
    for (const input of this.inputs) {
      try {
        Promise.resolve(input._source.start?.()).catch((err) => this._log(`${input.name} failed to start: ${message(err)}`));
      } catch (err) {
        this._log(`${input.name} failed to start: ${message(err)}`);
      }
    }
    this.schedule(this._zeroTime + this.batchIntervalMs);
  }

  /**
   * Stops the context. Immediately (default): no further batch starts, the batch being processed completes, queued
   * batches are dropped. Gracefully: inputs stop receiving, then batches continue until everything already received
   * has been processed. Calling it again with `graceful: false` turns a graceful stop into an immediate one.
   * `promptly` (with `graceful`): the remaining batches run one after another at once, each keeping its time, instead
   * of each waiting for its time (up to a batch interval for the last one).
   */
  stop(options: { graceful?: boolean; promptly?: boolean } = {}): Promise<void> {
    const graceful = options.graceful ?? false;
    if (graceful && options.promptly) this.promptly = true;
    if (this.currentState === 'initialized') {
      this.currentState = 'stopped';
      this.termination.resolve();
      this.stopPromise = Promise.resolve();
    }
    if (!graceful) this.halt();
    this.stopPromise ??= this.shutdown(graceful);
    return this.stopPromise;
  }

  /** Resolves once the context has stopped; rejects with the error if it stopped because a batch failed. */
  awaitTermination(): Promise<void> {
    return this.termination.promise;
  }

  /** Resolves true once stopped, or false after `timeoutMs` of the context's clock. */
  awaitTerminationOrTimeout(timeoutMs: number): Promise<boolean> {
    checkDuration('timeout', timeoutMs);
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => resolve(false), timeoutMs);
      this.termination.promise.then(
        () => {
          this.clock.clearTimeout(timer);
          resolve(true);
        },
        (err) => {
          this.clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** Resolves when no batch is queued or being processed (tests: after advancing a manual clock). */
  awaitIdle(): Promise<void> {
    if (!this.processing && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- stats ----

  stats(): StreamingStats {
    return {
      state: this.currentState,
      batchIntervalMs: this.batchIntervalMs,
      startTime: Number.isNaN(this._zeroTime) ? null : this._zeroTime,
      pendingBatches: this.pending.length,
      batches: this.batchLog.batches(),
      totals: { ...this.batchLog.totals },
    };
  }

  /** Calls `listener` after every batch (also failed ones); returns a function that unsubscribes it. */
  onBatchCompleted(listener: (info: BatchInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- used by DStream and the input streams ----

  /** @internal */
  _assertDefinable(action: string): void {
    if (this.currentState !== 'initialized') throw contextState(action, this.currentState);
  }

  /** @internal */
  _registerInput(input: InputDStream<any>): void {
    this._assertDefinable('add an input stream');
    this.inputs.push(input);
  }

  /** @internal */
  _registerOutput<T>(stream: DStream<T>, fn: BatchFn<T>): void {
    this._assertDefinable('add an output operation');
    if (typeof fn !== 'function') throw invalidArgument('output operation', fn, 'a function');
    this.outputs.push({ stream: stream as DStream<unknown>, fn: fn as BatchFn<unknown> });
  }

  // ---- batch generation and processing ----

  private schedule(time: number): void {
    this.nextTime = time;
    if (this.receiversStopped && this.promptly) {
      // Once the batches queued are done: a batch generated sooner would find the last one's input not yet taken.
      void this.awaitIdle().then(() => {
        if (!this.halted) this.timer = this.clock.setTimeout(() => this.generate(time), 0);
      });
      return;
    }
    this.timer = this.clock.setTimeout(() => this.generate(time), Math.max(0, time - this.clock.now()));
  }

  /** A prompt graceful stop: the batch whose timer is waiting is generated now (keeping its time). */
  private hurry(): void {
    if (this.timer === undefined || this.halted) return;
    this.clock.clearTimeout(this.timer);
    this.generate(this.nextTime);
  }

  private generate(time: number): void {
    this.timer = undefined;
    const blocks = this.inputs.map((input) => this.take(input, time));
    this.pending.push({ time, submissionTime: this.clock.now(), blocks });
    this.kick();
    if (this.receiversStopped && !this.inputs.some((i) => i._source.hasPending?.() ?? false)) {
      this.generationEnded.resolve(); // graceful stop: everything received is in a batch now
      return;
    }
    this.schedule(time + this.batchIntervalMs);
  }

  private take(input: InputDStream<unknown>, time: number): Promise<readonly unknown[]> {
    const failed = (err: unknown): readonly unknown[] => {
      this._log(`${input.name} failed to provide ${this.batchName(time)}: ${message(err)}`);
      return [];
    };
    try {
      return Promise.resolve(input._source.take(time)).catch(failed);
    } catch (err) {
      return Promise.resolve(failed(err));
    }
  }

  private kick(): void {
    if (this.processing) return;
    this.processing = true;
    void this.processQueue();
  }

  private async processQueue(): Promise<void> {
    try {
      for (let job = this.pending.shift(); job; job = this.pending.shift()) await this.runBatch(job);
    } finally {
      this.processing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async runBatch(job: BatchJob): Promise<void> {
    const { time } = job;
    const processingStartTime = this.clock.now();
    let inputRecords = 0;
    let error: unknown;
    let failed = false;
    try {
      const blocks = await Promise.all(job.blocks);
      for (let i = 0; i < blocks.length; i++) {
        inputRecords += blocks[i].length;
        const input = this.inputs[i];
        if (input._rememberMs > 0) input._setComputed(time, blocks[i]);
      }
      for (const stream of this.statefulStreams) stream._getOrCompute(time);
      for (const { stream, fn } of this.outputs) {
        const records = stream._getOrCompute(time);
        if (records !== undefined) await fn(records, time);
      }
    } catch (err) {
      failed = true;
      error = err;
    }
    for (const stream of this.reachable) stream._forget(time);
    const processingEndTime = this.clock.now();
    const info: BatchInfo = {
      batchTime: time,
      inputRecords,
      submissionTime: job.submissionTime,
      processingStartTime,
      processingEndTime,
      schedulingDelayMs: Math.max(0, processingStartTime - time), // a timer may fire 1 ms early by Date.now()
      processingTimeMs: processingEndTime - processingStartTime,
      totalDelayMs: Math.max(0, processingEndTime - time),
    };
    if (failed) info.error = message(error);
    this.batchLog.add(info);
    for (const listener of this.listeners) {
      try {
        listener(info);
      } catch (err) {
        this._log(`onBatchCompleted listener failed: ${message(err)}`);
      }
    }
    if (failed && !this.failure) {
      this.failure = new DStreamError(DStreamErrorCodes.TS_ERR_BATCH_FAILED, `${this.batchName(time)} failed: ${message(error)}`, {
        cause: error,
      });
      this._log(`${this.failure.message}; stopping the streaming context`);
      void this.stop({ graceful: false });
    }
  }

  /** Stops generating batches and drops the queued ones. */
  private halt(): void {
    this.halted = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.length = 0;
    this.generationEnded.resolve();
  }

  private async shutdown(graceful: boolean): Promise<void> {
    await Promise.all(
      this.inputs.map(async (input) => {
        try {
          await input._source.stop?.();
        } catch (err) {
          this._log(`${input.name} failed to stop: ${message(err)}`);
        }
      }),
    );
    this.receiversStopped = true;
    if (graceful && this.promptly) this.hurry();
    if (graceful) await this.generationEnded.promise;
    await this.awaitIdle();
    for (const input of this.inputs) {
      try {
        input._source.close?.();
      } catch (err) {
        this._log(`${input.name} failed to close: ${message(err)}`);
      }
    }
    this.currentState = 'stopped';
    if (this.failure) this.termination.reject(this.failure);
    else this.termination.resolve();
  }
}

function reachableFrom(roots: DStream<unknown>[]): DStream<unknown>[] {
  const seen = new Set<DStream<unknown>>();
  const visit = (s: DStream<unknown>): void => {
    if (seen.has(s)) return;
    seen.add(s);
    for (const p of s._parents) visit(p);
  };
  for (const r of roots) visit(r);
  return [...seen].sort((a, b) => a._id - b._id);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
