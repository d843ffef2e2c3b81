/**
 * The hottest devices per minute, over the server's live telemetry. A job for the running server: submit it over
 * Livy's batches API (see README, "Jobs"), e.g.
 *
 *   curl -s -X POST localhost:8080/livy/batches -H 'Content-Type: application/json' \
 *     -d '{"file": "examples/hottest-devices.ts", "args": ["60000", "5"]}'
 *
 * args: window length in ms (default 60000, tumbling), how many devices to show (default 5). Every window prints
 * `(deviceId,maxTemperature)`, hottest first. Windows are by arrival (processing time, as Spark Streaming's), from
 * the moment the job was submitted.
 */
import { StreamingContext } from '../server/engine/dstream/index.ts';
import type { JobContext } from '../server/jobs/index.ts';

export default async function hottestDevices(args: string[], job: JobContext): Promise<void> {
  const windowMs = Number(args[0] ?? 60_000);
  const top = Number(args[1] ?? 5);
  if (!Number.isSafeInteger(windowMs) || windowMs <= 0 || !Number.isSafeInteger(top) || top <= 0) {
    throw new Error(`usage: args [windowMs, top], both positive integers (got ${JSON.stringify(args)})`);
  }
  const ctx = new StreamingContext(windowMs % 1000 === 0 ? 1000 : windowMs);
  ctx
    .telemetryStream()
    .map((r) => [r.deviceId, r.temperature])
    .reduceByKeyAndWindow((a, b) => Math.max(a, b), windowMs, windowMs)
    .transform((maxima) => [...maxima].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top))
    .print(top);
  job.log(`hottest ${top} devices every ${windowMs} ms`);
  ctx.start();
  await ctx.awaitTermination();
}
