/**
 * Why a job module failed to load, when it is a syntax error of the job file: its file, line and column. Node's own
 * SyntaxError for a .js/.mjs module names neither (the place goes only to an uncaught exception's printout), and
 * tsx's for a .ts file comes wrapped in esbuild's stack; the file is compiled once more with esbuild (which tsx
 * uses) to locate it.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number } | null;
}

/** A SyntaxError naming where the job file is wrong, or undefined when `err` is not a syntax error of that file. */
export async function locateSyntaxError(url: string, err: unknown): Promise<SyntaxError | undefined> {
  const name = err instanceof Error ? err.name : '';
  if (name !== 'SyntaxError' && name !== 'TransformError') return undefined;
  const path = fileURLToPath(url);
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const { transformSync } = await import('esbuild');
  try {
    transformSync(source, { loader: ['.ts', '.mts'].includes(extname(path)) ? 'ts' : 'js', sourcefile: path, logLevel: 'silent' });
  } catch (e) {
    const first = (e as { errors?: EsbuildMessage[] }).errors?.[0];
    if (first?.location) {
      // As esbuild and tsx print it: line from 1, column from 0.
      const located = new SyntaxError(`${first.location.file}:${first.location.line}:${first.location.column}: ${first.text}`);
      located.stack = `SyntaxError: ${located.message}`;
      return located;
    }
  }
  return undefined; // the file compiles: the error is elsewhere (a module it imports), shown as it came
}
