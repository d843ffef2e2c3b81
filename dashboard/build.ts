// Builds the dashboard into dashboard/dist/: one JS bundle (chart.js inside, nothing fetched from elsewhere), the
// HTML, the CSS and the favicon. Run by `npm run build` and by `npm install` (the `prepare` script).
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('./', import.meta.url));
export const DIST = `${ROOT}dist/`;

/** Builds into `dist` (a directory path ending in /), replacing what was there; returns the bundle's size. */
export async function buildDashboard(dist = DIST): Promise<number> {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  for (const file of readdirSync(`${ROOT}public`)) cpSync(`${ROOT}public/${file}`, `${dist}${file}`);
  const result = await build({
    entryPoints: [`${ROOT}src/main.ts`],
    bundle: true,
    format: 'iife',
    target: ['es2022'],
    minify: true,
    legalComments: 'eof',
    outfile: `${dist}app.js`,
    metafile: true,
    logLevel: 'warning',
  });
  return Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bytes = await buildDashboard();
  console.log(`dashboard: built ${DIST} (app.js ${(bytes / 1024).toFixed(0)} KB)`);
}
