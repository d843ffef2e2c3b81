import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * OpenAPI 3.1 generated from the route schemas, served at /docs (Swagger UI, its assets from node_modules: no CDN)
 * and /docs/json. Registered before the routes: @fastify/swagger collects them as they are added.
 */
export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Thermostream HTTP API',
        version,
        description:
          'Window aggregates, devices, readings, dead letters, engine figures, a live SSE stream, health and metrics; ' +
          'streaming jobs through Apache Livy\'s batches API (/livy/batches) or /api/v1/jobs. ' +
          'Times are ISO 8601 UTC in answers; query parameters take ISO 8601 or epoch ms. A 400 names the parameter, ' +
          'its value and what was expected.',
      },
      components: {
        securitySchemes: { apiToken: { type: 'http', scheme: 'bearer', description: 'http.apiToken, for write routes' } },
      },
    },
    // Shared schemas become components named by their $id.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  // The plugin's own CSP (staticCSP: true) says upgrade-insecure-requests, which made a browser that reached this
  // plain-HTTP server by any name but localhost fetch the page's scripts over https (a blank page), and it refused the
  // inline styles Swagger UI sets. Everything it loads comes from this server.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true }, staticCSP: DOCS_CSP });
}

const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; font-src 'self' data:; frame-ancestors 'self'; img-src 'self' data:; " +
  "object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'";
