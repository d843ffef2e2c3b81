/**
 * Runs an example by name: `npm run example -- <name> [args…]`, e.g.
 * `npm run example -- network-word-count localhost 9999`.
 */
import { UsageError } from './shared.ts';

const examples: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  'network-word-count': () => import('./network-word-count.ts'),
  'windowed-word-count': () => import('./windowed-word-count.ts'),
};

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : examples[name];
if (!load) {
  process.stderr.write(
    `${name === undefined ? 'no example named' : `unknown example ${JSON.stringify(name)}`}\n` +
      `usage: npm run example -- <name> [args...]\nexamples: ${Object.keys(examples).join(', ')}\n`,
  );
  process.exitCode = 2;
} else {
  try {
    await (await load()).main(args);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
