// Builds the server into server/dist/: main.mjs (the CLI and startThermostream), start.mjs (what `npm start` and
// `npm run demo` run: it takes the stop signals, then loads main.mjs) and batch-worker.mjs (the batch thread's
// module), plain JavaScript with the dependencies left in node_modules.
// Run from source through tsx, the server carries TypeScript's loader in each of its threads: the main one and the
// batch thread, ≈ 100 MB of RSS (docs/BENCHMARKS.md). Jobs still run through tsx: they load the user's TypeScript.
// Run by `npm run build`, by `npm install` (the `prepare` script), and before `npm start`, `npm run demo`, `npm run bench`.
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type BuildResult } from 'esbuild';

const ROOT = fileURLToPath(new URL('./', import.meta.url));
/** Beside the other server directories: the bundle's `new URL('../…', import.meta.url)`s resolve as from server/api/. */
export const SERVER_DIST = `${ROOT}dist/`;

/** Bundles TypeScript for Node as this project runs it: ESM for Node 20, the packages left in node_modules. */
export function bundleForNode<T extends BuildOptions>(options: T): Promise<BuildResult<T>> {
  const all: BuildOptions = { bundle: true, platform: 'node', format: 'esm', target: ['node20'], packages: 'external', logLevel: 'warning', ...options };
  return build(all) as Promise<BuildResult<T>>;
}

/** Builds into `dist` (a directory path ending in /); returns the bundles' size in bytes. */
export async function buildServer(dist = SERVER_DIST): Promise<number> {
  const result = await bundleForNode({
    entryPoints: { main: `${ROOT}main.ts`, start: `${ROOT}start.ts`, 'batch-worker': `${ROOT}engine/batch-worker.ts` },
    outdir: dist,
    // start.mjs takes the stop signals before it loads main.mjs: main.ts bundled into it would load every package first.
    plugins: [{ name: 'start-loads-main', setup: (b) => b.onResolve({ filter: /^\.\/main\.ts$/ }, () => ({ path: './main.mjs', external: true })) }],
    outExtension: { '.js': '.mjs' },
    sourcemap: true,
    metafile: true,
  });
  return Object.entries(result.metafile.outputs).reduce((n, [file, o]) => (file.endsWith('.mjs') ? n + o.bytes : n), 0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bytes = await buildServer();
  if (!process.argv.includes('--quiet')) console.log(`server: built ${SERVER_DIST} (${(bytes / 1024).toFixed(0)} KB)`);
}
