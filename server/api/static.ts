import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run build` (also run by `npm install`) writes the dashboard bundle. */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../dashboard/dist/', import.meta.url));

/** Why the dashboard cannot be served, or null when its bundle is there. */
export function dashboardMissing(dir = DASHBOARD_DIST): string | null {
  if (existsSync(`${dir}index.html`)) return null;
  return `the dashboard is not built (${dir}index.html is missing): run \`npm run build\``;
}

/**
 * The dashboard's built files (HTML, one JS bundle with chart.js inside, CSS, favicon), never anything from a CDN.
 * Without a build, `/` answers 503 with a page saying how to build it, and the API works as usual.
 */
export async function registerDashboard(app: FastifyInstance, dir = DASHBOARD_DIST): Promise<void> {
  const missing = dashboardMissing(dir);
  if (missing !== null) {
    app.get('/', async (_req, reply) =>
      reply.code(503).type('text/plain; charset=utf-8').send(`Thermostream: ${missing}.\nThe HTTP API under /api/v1/ works.\n`),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    decorateReply: false, // no sendFile needed; leaves the decorator to other users of @fastify/static (Swagger UI)
    wildcard: false, // the files present at start-up, no directory listing; a rebuild needs a restart
    cacheControl: false,
    setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
  });
}
