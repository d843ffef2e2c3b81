/**
 * A committed batch's window results on their way from the batch thread to the main thread (the broker's), as
 * objects (structured clone, as before) against packed as the engine emits them (server/engine/window-pack.ts: the
 * numbers in transferred Float64Arrays, the ids as strings). Real window results, from the engine's
 * EventTimeWindows with the default window shapes; a real worker thread sends them; interleaved runs, medians.
 *
 *   batch thread: send        postMessage: the clone's serialization, or a copy of the numbers and the ids' clone
 *   main thread: receive      from the post to the listener on the main thread: the deserialization is most of it
 *   main thread: objects      unpacking the device windows into objects, which the live stream does only when a
 *                             subscriber is sent the batch (0 for the cloned objects)
 *   main heap                 the heap the received batch holds on the main thread (the stream keeps recent batches)
 *
 *   npm run bench -- window-transfer [--runs N] [--windows N]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { EventTimeWindows, type WindowResult } from '../server/engine/event-time.ts';
import { unpackDeviceWindows, windowBuffers, windowCount, windowObjects, type PackedWindows } from '../server/engine/window-pack.ts';
import { fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, REPO, table } from './harness.ts';

const USAGE = `npm run bench -- window-transfer [options]

  --runs N      interleaved runs per form, the median is reported (default 9)
  --windows N   about how many window results in the batch (default 100000: one batch of a fleet of 100,000 devices
                reporting every 10 s, "final" refresh)`;

type Form = 'objects' | 'packed';
const FORMS: Form[] = ['objects', 'packed'];
type Request = { objects: WindowResult[]; packed: PackedWindows } | { form: Form };
/** The batch, then how long its sending took (the clone happens inside postMessage: timed around it). */
type Reply = { postedAt: number; windows: WindowResult[] | PackedWindows } | { sendMs: number };

const now = (): number => performance.timeOrigin + performance.now();

if (!isMainThread) {
  let batch: { objects: WindowResult[]; packed: PackedWindows } | null = null;
  parentPort!.on('message', (req: Request) => {
    if ('objects' in req) return void (batch = req);
    const started = performance.now();
    if (req.form === 'objects') parentPort!.postMessage({ postedAt: now(), windows: batch!.objects } satisfies Reply);
    else {
      // A batch's own numbers (the engine packs each batch into new arrays): copied here, since a transfer detaches them.
      const packed = { ...batch!.packed, chunks: batch!.packed.chunks.map((c) => c.slice()) };
      parentPort!.postMessage({ postedAt: now(), windows: packed } satisfies Reply, windowBuffers(packed));
    }
    parentPort!.postMessage({ sendMs: performance.now() - started } satisfies Reply);
  });
}

/**
 * A batch of about `count` window results as the engine emits them (packed), and as objects: devices reporting
 * once, the default shapes, 'final' refresh.
 */
function buildWindows(count: number): { objects: WindowResult[]; packed: PackedWindows } {
  const config = JSON.parse(readFileSync(join(REPO, 'config/default.json'), 'utf8')) as { windows: { lengthMs: number; slideMs: number }[] };
  const t0 = Date.parse('2026-12-04T06:00:00Z');
  const w = new EventTimeWindows({ windows: config.windows, allowedLatenessMs: 0, timeMode: 'event', startedAt: t0, openWindowRefresh: 'final' });
  const devices = Math.ceil(count / 6); // 5 + 1 windows of the first two shapes become final per reading
  for (let d = 0; d < devices; d++) {
    w.add({ deviceId: `thermostat-${String(d).padStart(6, '0')}`, ts: t0 + (d % 1000), temperature: 18 + (d % 700) / 100, humidity: d % 3 === 0 ? undefined : 40 + (d % 20), seq: 1, arrival: t0 });
  }
  w.moveWatermark(t0 + 400_000);
  const packed = w.emit();
  return { objects: windowObjects(packed), packed };
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags(args, { runs: 9, windows: 100_000 }, {
    '--runs': (v, x) => void (x.runs = positiveInt('--runs', v)),
    '--windows': (v, x) => void (x.windows = positiveInt('--windows', v)),
  });
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const batch = buildWindows(o.windows);
  const windows = batch.objects;
  console.log(`window-transfer: ${machine()}`);
  console.log(`window-transfer: ${fmtInt(windows.length)} window results, ${o.runs} interleaved runs per form (order alternating), one warm-up each`);
  const worker = new Worker(new URL('../server/thread-boot.mjs', import.meta.url), { argv: [new URL(import.meta.url).href] });
  worker.postMessage(batch satisfies Request);
  let received: { receiveMs: number; windows: WindowResult[] | PackedWindows } | null = null;
  let sent: ((sendMs: number) => void) | null = null;
  worker.on('message', (r: Reply) => {
    if ('postedAt' in r) received = { receiveMs: now() - r.postedAt, windows: r.windows };
    else sent?.(r.sendMs);
  });

  interface Sample { sendMs: number; receiveMs: number; unpackMs: number; heapBytes: number }
  async function once(form: Form): Promise<Sample> {
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const sendMs = await new Promise<number>((resolve) => {
      sent = resolve;
      worker.postMessage({ form } satisfies Request);
    });
    const { receiveMs, windows: got } = received!;
    let unpackMs = 0;
    let count: number;
    if (form === 'packed') {
      const packed = got as PackedWindows;
      const t = performance.now();
      count = unpackDeviceWindows(packed).length + packed.fleet.length;
      unpackMs = performance.now() - t;
      if (windowCount(packed) !== count) throw new Error('packed: the count disagrees with the windows');
    } else count = (got as WindowResult[]).length;
    if (count !== windows.length) throw new Error(`${form}: ${count} windows received of ${windows.length}`);
    gc();
    const heapBytes = process.memoryUsage().heapUsed - heapBefore; // the batch is still held (received)
    received = null;
    return { sendMs, receiveMs, unpackMs, heapBytes };
  }

  for (const f of FORMS) await once(f);
  const samples = new Map<Form, Sample[]>(FORMS.map((f) => [f, []]));
  for (let run = 0; run < o.runs; run++) {
    for (const f of run % 2 === 0 ? FORMS : [...FORMS].reverse()) samples.get(f)!.push(await once(f));
  }
  await worker.terminate();
  const med = (f: Form, k: keyof Sample): number => median(samples.get(f)!.map((s) => s[k]));
  const rows = FORMS.map((f) => [
    f,
    med(f, 'sendMs').toFixed(1),
    med(f, 'receiveMs').toFixed(1),
    med(f, 'unpackMs').toFixed(1),
    fmtInt(med(f, 'heapBytes') / windows.length),
    samples.get(f)!.map((s) => s.receiveMs.toFixed(0)).join(' '),
  ]);
  console.log();
  console.log(table(['form', 'batch thread: send ms', 'main thread: receive ms', 'main thread: objects ms', 'main heap bytes/window', 'receive ms per run'], rows));
  console.log();
  console.log(`main thread, receiving: packed ${fmtRatio(med('packed', 'receiveMs') / med('objects', 'receiveMs'))} of the time of objects; ` +
    `batch thread, sending: ${fmtRatio(med('packed', 'sendMs') / med('objects', 'sendMs'))}`);
  console.log();
  console.log(`reproduce: npm run bench -- window-transfer ${args.join(' ')}`.trimEnd());
  return 0;
}
