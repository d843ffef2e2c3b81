import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets a heap grow past what survived its last full collection before it collects again
 * (V8's --heap-growing-percent), for every heap of this process: the main thread's and each worker thread's, since
 * V8's flags are the process's. V8's own choice, when left alone, goes up to 4× a heap's live data; under a
 * fleet's steady stream of short-lived objects (packets, readings, batch results) that is what most of the
 * server's memory was. A lower bound trades some collection time for memory (docs/BENCHMARKS.md, "Heap growth").
 * 0 leaves V8's choice. Called by the process that runs the server, before it starts; it is not undone.
 */
export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
