/**
 * Word counts over the last 30 seconds, every 10 seconds (batch interval 1 s), kept incrementally: each window is
 * the previous one minus the batches that left it plus those that entered (the inverse function), and words whose
 * count fell back to 0 are dropped (the filter).
 *
 *   nc -lk 9999
 *   npm run example -- windowed-word-count localhost 9999
 */
import { StreamingContext } from '../server/engine/dstream/index.ts';
import { parseHostPort, runUntilSignal } from './shared.ts';

export async function main(args: string[]): Promise<void> {
  const { host, port } = parseHostPort('windowed-word-count', args);
  const ctx = new StreamingContext(1000);
  const words = ctx
    .socketTextStream(host, port)
    .flatMap((line) => line.split(/\s+/))
    .filter((word) => word.length > 0);
  const windowedCounts = words.map((word) => [word, 1]).reduceByKeyAndWindow((a, b) => a + b, 30_000, 10_000, {
    invFn: (a, b) => a - b,
    filterFn: ([, count]) => count > 0,
  });
  windowedCounts.print();
  await runUntilSignal(ctx);
}
