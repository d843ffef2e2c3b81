/**
 * Input DStreams. At every batch time the context asks each input for the records it has received since the
 * previous batch time (`take`); those records form the batch. Input received between two batch times therefore
 * goes into the next batch.
 */
import type { Clock } from '../../clock.ts';
import type { StreamingContext } from './context.ts';
import { DStream } from './dstream.ts';
import { concat } from './duration.ts';

/** Where an input stream's records come from. */
export interface InputSource<T> {
  /** Called by `ctx.start()`. */
  start?(): void | Promise<void>;
  /** The records of the batch at `batchTime`: everything received since the previous call. */
  take(batchTime: number): readonly T[] | Promise<readonly T[]>;
  /** True while records are waiting for a batch (a graceful stop keeps generating batches until it is false). */
  hasPending?(): boolean;
  /** Called by `ctx.stop()`: stop receiving. */
  stop?(): void | Promise<void>;
  /** Called once the context has stopped: release what `stop` kept for the last batches of a graceful stop. */
  close?(): void;
}

export class InputDStream<T> extends DStream<T> {
  /** @internal */
  readonly _source: InputSource<T>;

  constructor(context: StreamingContext, name: string, source: InputSource<T>) {
    // The context stores each batch's records as this stream's computed batch; nothing to compute here.
    super(context, { name, parents: [], compute: () => [] });
    this._source = source;
    context._registerInput(this);
  }
}

/** Records pushed in by code: the buffer of the next batch. */
class PushSource<T> implements InputSource<T> {
  buffer: T[] = [];
  accepting = true;

  take(): readonly T[] {
    const batch = this.buffer;
    this.buffer = [];
    return batch;
  }

  hasPending(): boolean {
    return this.buffer.length > 0;
  }

  stop(): void {
    this.accepting = false;
  }
}

/**
 * An input stream fed by `push()`. Pushed records go into the next batch. Once the context is stopping or stopped,
 * `push` refuses records and returns false (a receiver must not lose them silently: it can stop acknowledging).
 */
export class PushInputDStream<T> extends InputDStream<T> {
  private readonly buffer: PushSource<T>;

  constructor(context: StreamingContext, name = 'inputStream', source = new PushSource<T>()) {
    super(context, name, source);
    this.buffer = source;
  }

  push(record: T): boolean {
    if (!this.buffer.accepting) return false;
    this.buffer.buffer.push(record);
    return true;
  }

  pushAll(records: Iterable<T>): boolean {
    if (!this.buffer.accepting) return false;
    for (const r of records) this.buffer.buffer.push(r);
    return true;
  }
}

/** What a receiver gets to hand over records (Spark's `Receiver.store`). */
export interface ReceiverSink<T> {
  /** Adds a record to the next batch; false once the context is stopping (the record was not taken). */
  store(record: T): boolean;
  storeAll(records: Iterable<T>): boolean;
  /** The context's clock: use it for timers (reconnect backoff…) so tests control time. */
  readonly clock: Clock;
  /** The context's diagnostic log. */
  log(message: string): void;
}

/** A long-running source of records (socket, MQTT subscription…), started and stopped with the context. */
export interface Receiver<T> {
  onStart(sink: ReceiverSink<T>): void | Promise<void>;
  /** Stop receiving; resolve once no more records will be stored. */
  onStop(): void | Promise<void>;
}

export function receiverStream<T>(context: StreamingContext, receiver: Receiver<T>, name = 'receiverStream'): DStream<T> {
  const source = new PushSource<T>();
  const sink: ReceiverSink<T> = {
    store: (record) => {
      if (!source.accepting) return false;
      source.buffer.push(record);
      return true;
    },
    storeAll: (records) => {
      if (!source.accepting) return false;
      for (const r of records) source.buffer.push(r);
      return true;
    },
    clock: context.clock,
    log: (message) => context._log(message),
  };
  return new InputDStream<T>(context, name, {
    start: () => receiver.onStart(sink),
    take: () => source.take(),
    hasPending: () => source.hasPending(),
    stop: async () => {
      await receiver.onStop();
      source.stop();
    },
  });
}

/**
 * Spark's queueStream, for tests: each batch takes the next array of the queue (or, with `oneAtATime` false,
 * all queued arrays); an empty queue gives `defaultBatch` (empty by default). Push arrays into `queue` at any time.
 */
export function queueStream<T>(
  context: StreamingContext,
  queue: T[][],
  oneAtATime: boolean,
  defaultBatch: readonly T[],
): DStream<T> {
  return new InputDStream<T>(context, 'queueStream', {
    take: () => {
      if (queue.length === 0) return defaultBatch;
      if (oneAtATime) return queue.shift() ?? defaultBatch;
      return concat(queue.splice(0, queue.length));
    },
    hasPending: () => queue.length > 0,
  });
}
