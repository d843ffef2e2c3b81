/**
 * The batch thread (batch-thread.ts): opens its own connection to the store, restores the telemetry job from the
 * checkpoint, then runs BatchRunner's methods as the main thread asks, one message at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../store/index.ts';
import { parseFaults } from '../faults.ts';
import { BatchRunner, type CommitResult } from './batch-runner.ts';
import { windowBuffers } from './window-pack.ts';
import { errorReply, READY, type BatchReply, type BatchRequest, type BatchWorkerData } from './batch-thread.ts';

const { config, startedAt, faults, instanceLock } = workerData as BatchWorkerData;
const port = parentPort!;
const reply = (r: BatchReply, transfer: ArrayBuffer[] = []): void => port.postMessage(r, transfer);

try {
  const store = await openStore(config, { beforeCheckpoint: parseFaults(faults)?.beforeCheckpoint, ...(instanceLock !== null && { instanceLock }) });
  const runner = new BatchRunner(config, store, await store.recover(), startedAt);
  // Messages are handled strictly in order: the next waits for the previous one's answer.
  let queue = Promise.resolve();
  port.on('message', (req: BatchRequest) => {
    queue = queue.then(async () => {
      try {
        if (req.op === 'close') await store.close(); // then the main thread terminates the thread
        const value = await handle(runner, req);
        reply({ id: req.id, value }, windowNumbers(value));
      } catch (err) {
        reply({ id: req.id, error: errorReply(err) });
      }
    });
  });
  reply({ id: READY });
} catch (err) {
  reply({ id: READY, error: errorReply(err) });
}

/** A committed batch's window numbers are handed over, not copied. */
function windowNumbers(value: unknown): ArrayBuffer[] {
  const result = value as CommitResult | undefined;
  return result?.ok === true ? windowBuffers(result.batch.windows) : [];
}

async function handle(runner: BatchRunner, { op, args }: BatchRequest): Promise<unknown> {
  switch (op) {
    case 'add':
      return runner.add(args[0] as Parameters<BatchRunner['add']>[0]);
    case 'run':
      return runner.run(...(args as Parameters<BatchRunner['run']>));
    case 'commitAgain':
      return runner.commitAgain();
    case 'flushOpenWindows':
      return runner.flushOpenWindows();
    case 'prune':
      return runner.prune(args[0] as number);
    case 'recentReadings':
      return runner.recentReadings(...(args as Parameters<BatchRunner['recentReadings']>));
    case 'close':
      return undefined;
  }
}
