import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const DASHBOARD = fileURLToPath(new URL('../../dashboard/', import.meta.url));
// chart.js exports no subpath for its UMD build; it sits beside the package's main file.
const CHART_UMD = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

/** The dashboard's files; chart.js comes from node_modules, never from a CDN. */
const FILES: Record<string, { path: string; type: string }> = {
  '/': { path: DASHBOARD + 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { path: DASHBOARD + 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { path: DASHBOARD + 'style.css', type: 'text/css; charset=utf-8' },
  '/vendor/chart.umd.js': { path: CHART_UMD, type: 'text/javascript; charset=utf-8' },
};

export function registerDashboard(app: FastifyInstance): void {
  for (const [url, file] of Object.entries(FILES)) {
    app.get(url, async (_req, reply) => {
      reply.type(file.type).header('cache-control', 'no-cache');
      return readFile(file.path);
    });
  }
}
