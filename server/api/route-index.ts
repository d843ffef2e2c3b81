import type { FastifyInstance } from 'fastify';

/**
 * `GET /api/v1` lists the routes this server has (method and URL pattern), collected as they are registered, so a
 * client (the dashboard) learns once which features exist instead of probing routes and collecting 404s.
 * Call before any other route is added.
 */
export function registerRouteIndex(app: FastifyInstance): void {
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  app.get('/api/v1', async () => ({ routes: [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method)) }));
}
