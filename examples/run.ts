/**
 * Runs an example by name: `npm run example -- <name> [args…]`, e.g.
 * `npm run example -- network-word-count localhost 9999`.
 */
import { endQuietlyOnEpipe } from '../server/output-closed.ts';
import { UsageError } from './shared.ts';

// `npm run -s example -- network-word-count localhost 9999 | head -3`: exits once the reader is gone, as on SIGPIPE.
endQuietlyOnEpipe();

const examples: Record<string, { about: string; load: () => Promise<{ main(args: string[]): Promise<void> }> }> = {
  'network-word-count': { about: 'word counts of every 1 s batch of the lines read from host:port', load: () => import('./network-word-count.ts') },
  'windowed-word-count': { about: 'word counts over the last 30 s, every 10 s', load: () => import('./windowed-word-count.ts') },
};

const USAGE =
  'usage: npm run example -- <name> <host> <port>\n' +
  `examples (each reads lines from a TCP server at host:port, such as \`nc -lk 9999\`):\n` +
  Object.entries(examples).map(([name, e]) => `  ${name.padEnd(20)} ${e.about}\n`).join('');

const [name, ...args] = process.argv.slice(2);
const example = name === undefined ? undefined : Object.hasOwn(examples, name) ? examples[name] : undefined;
if (name === '--help' || name === '-h') {
  process.stdout.write(USAGE);
} else if (!example) {
  process.stderr.write(`${name === undefined ? 'no example named' : `unknown example ${JSON.stringify(name)}`}\n${USAGE}`);
  process.exitCode = 2;
} else {
  try {
    await (await example.load()).main(args);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
