import type { FastifyInstance } from 'fastify';

const RouteList = {
  type: 'object',
  properties: {
    routes: {
      type: 'array',
      items: {
        type: 'object',
        properties: { method: { type: 'string' }, url: { type: 'string', description: 'fastify\'s pattern, e.g. /api/v1/devices/:id' } },
        required: ['method', 'url'],
        additionalProperties: false,
      },
    },
  },
  required: ['routes'],
  additionalProperties: false,
} as const;

/**
 * `GET /api/v1` lists the routes this server has (method and URL pattern), collected as they are registered, so a
 * client (the dashboard) learns once which features exist instead of probing routes and collecting 404s.
 * Call before any other route is added.
 */
export function registerRouteIndex(app: FastifyInstance): void {
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url === ALIAS) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  const list = async () => ({ routes: [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method)) });
  const querystring = { type: 'object', properties: {}, additionalProperties: false } as const;
  app.get(
    '/api/v1',
    {
      schema: {
        summary: 'The routes this server has',
        description: 'Every route (method and URL pattern) this server answers, so that clients can tell which features it offers.',
        tags: ['meta'],
        querystring,
        response: { 200: RouteList, 400: { $ref: 'Error#', description: 'An unknown query parameter.' } },
      },
    },
    list,
  );
  // The start-up line names the API as http://…/api/v1/ (the base of its routes): that address answers too.
  app.get(ALIAS, { schema: { hide: true, querystring, response: { 200: RouteList, 400: { $ref: 'Error#' } } } }, list);
}

const ALIAS = '/api/v1/';
