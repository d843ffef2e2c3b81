/**
 * Spark's NetworkWordCount: counts the words of the lines read from a TCP server, every second.
 *
 *   nc -lk 9999                                        # in one terminal, then type lines
 *   npm run example -- network-word-count localhost 9999
 */
import { StreamingContext } from '../server/engine/dstream/index.ts';
import { parseHostPort, runUntilSignal } from './shared.ts';

export async function main(args: string[]): Promise<void> {
  const { host, port } = parseHostPort('network-word-count', args);
  const ctx = new StreamingContext(1000);
  const lines = ctx.socketTextStream(host, port);
  const words = lines.flatMap((line) => line.split(/\s+/)).filter((word) => word.length > 0);
  const wordCounts = words.map((word) => [word, 1]).reduceByKey((a, b) => a + b);
  wordCounts.print();
  await runUntilSignal(ctx);
}
