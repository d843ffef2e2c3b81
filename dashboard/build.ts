// Builds the dashboard into dashboard/dist/: one JS bundle (chart.js inside, nothing fetched from elsewhere), the
// HTML, the CSS and the favicon. Run by `npm run build` and by `npm install` (the `prepare` script).
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('./', import.meta.url));
const dist = `${root}dist/`;

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
for (const file of readdirSync(`${root}public`)) cpSync(`${root}public/${file}`, `${dist}${file}`);

const result = await build({
  entryPoints: [`${root}src/main.ts`],
  bundle: true,
  format: 'iife',
  target: ['es2022'],
  minify: true,
  legalComments: 'eof',
  outfile: `${dist}app.js`,
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dashboard: built ${dist} (app.js ${(bytes / 1024).toFixed(0)} KB)`);
