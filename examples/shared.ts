/** What the examples share: argument parsing and a clean stop on SIGINT/SIGTERM. */
import type { StreamingContext } from '../server/engine/dstream/index.ts';

export class UsageError extends Error {}

export function parseHostPort(example: string, args: string[]): { host: string; port: number } {
  const usage = `usage: npm run example -- ${example} <host> <port>`;
  const [host, portText, ...extra] = args;
  if (host === undefined || portText === undefined) throw new UsageError(`${usage}  (got: ${args.join(' ') || 'nothing'})`);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new UsageError(`${example}: <port> ${JSON.stringify(portText)} is not a port number from 1 to 65535\n${usage}`);
  }
  if (extra.length > 0) throw new UsageError(`${example}: unexpected argument ${JSON.stringify(extra[0])}\n${usage}`);
  return { host, port };
}

/**
 * Starts the context and waits until it terminates. The first SIGINT/SIGTERM stops gracefully (what was received
 * is still processed and printed); a second one stops at once.
 */
export async function runUntilSignal(ctx: StreamingContext): Promise<void> {
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    void ctx.stop({ graceful: signals === 1 });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    ctx.start();
    await ctx.awaitTermination();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
