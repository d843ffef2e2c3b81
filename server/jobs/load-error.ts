/**
 * Why a job module failed to load, when it is a syntax error of the job file or of a module it imports: its file,
 * line and column. Node's own SyntaxError for a .js/.mjs module names neither (the place goes only to an uncaught
 * exception's printout), and tsx's for a .ts file comes wrapped in esbuild's stack; the job's own modules are
 * compiled once more with esbuild (which tsx uses), following its imports, to locate it.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** What esbuild compiles: the job's own source modules. Packages and other files (JSON, addons) are left out. */
const SOURCE = /\.[cm]?[jt]sx?$|(^|[/\\])[^./\\]+$/;
const sourcesOnly: Plugin = {
  name: 'job-sources-only',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (a) => (a.kind === 'entry-point' || SOURCE.test(a.path) ? undefined : { path: a.path, external: true }));
  },
};

/** A SyntaxError naming where the job's code is wrong, or undefined when `err` is not a syntax error of its modules. */
export async function locateSyntaxError(url: string, err: unknown): Promise<SyntaxError | undefined> {
  const name = err instanceof Error ? err.name : '';
  if (name !== 'SyntaxError' && name !== 'TransformError') return undefined;
  const { build } = await import('esbuild');
  try {
    await build({
      entryPoints: [fileURLToPath(url)],
      bundle: true,
      write: false,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      plugins: [sourcesOnly],
    });
  } catch (e) {
    const located = fromEsbuild(e);
    if (located) return located;
  }
  // The modules compile as ESM: what tsx refused may be CommonJS's alone (top-level await in a job outside an ESM
  // package); else the error is elsewhere (a package, a runtime SyntaxError), shown as it came.
  return fromEsbuild(err, CJS_HINT);
}

type EsbuildFailure = { errors?: { text: string; location: { file: string; line: number; column: number } | null }[] };

const CJS_HINT =
  ' (outside an ESM package a job is CommonJS, as Node takes a .ts or .js file without a package.json of "type": "module" above it: add one to its directory)';

/** esbuild's first located error as a SyntaxError naming the file, line and column; `hint` when CommonJS is the cause. */
function fromEsbuild(e: unknown, hint = ''): SyntaxError | undefined {
  const first = (e as EsbuildFailure | null)?.errors?.[0] ?? fromMessage(e);
  if (!first?.location) return undefined;
  // As esbuild and tsx print it: line from 1, column from 0; the file as esbuild names it, relative to the cwd.
  const why = hint !== '' && first.text.includes('"cjs" output format') ? hint : '';
  const located = new SyntaxError(`${resolve(first.location.file)}:${first.location.line}:${first.location.column}: ${first.text}${why}`);
  located.stack = `SyntaxError: ${located.message}`;
  return located;
}

/** tsx's require hook rethrows esbuild's failure without its `errors`: its message has them, `file:line:column: ERROR: text`. */
function fromMessage(e: unknown): NonNullable<EsbuildFailure['errors']>[number] | undefined {
  const m = /^Transform failed with \d+ errors?:\n(.+):(\d+):(\d+): ERROR: (.*)$/m.exec(e instanceof Error ? e.message : '');
  return m ? { text: m[4]!, location: { file: m[1]!, line: Number(m[2]), column: Number(m[3]) } } : undefined;
}
