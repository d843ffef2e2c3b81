import { readFileSync } from 'node:fs';
import compress from '@fastify/compress';
import Fastify, { type FastifyInstance, type FastifyReply, type HTTPMethods } from 'fastify';
import type { Config } from '../config.ts';
import { listenError } from '../errors.ts';
import { urlHost } from '../url.ts';
import { registerContentNegotiation } from './accept.ts';
import { checkExposure, registerAuth, registerHostCheck } from './auth.ts';
import type { ApiDeps } from './deps.ts';
import { registerJsonParser } from './body-parser.ts';
import { registerDocs } from './docs.ts';
import { errorHandler } from './request-errors.ts';
import { deadLettersRoutes } from './routes/dead-letters.ts';
import { lateReadingsRoutes } from './routes/late-readings.ts';
import { devicesRoutes } from './routes/devices.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { readingsRoutes } from './routes/readings.ts';
import { statsRoutes } from './routes/stats.ts';
import { streamRoutes } from './routes/stream.ts';
import { windowsRoutes } from './routes/windows.ts';
import { SHARED_SCHEMAS } from './schemas.ts';
import { AJV_OPTIONS, expectedKeyword, refuseLooseIntegers } from './validation.ts';
import { registerDashboard } from './static.ts';
import { registerLivyRoutes } from './routes/livy.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { registerRouteIndex } from './route-index.ts';
import { anomaliesRoutes } from './routes/anomalies.ts';

export { dashboardMissing } from './static.ts';
import { registerRegistryRoutes } from './routes/registry.ts';

export type { ApiDeps } from './deps.ts';
export { createSseHub, type SseHub } from './sse-hub.ts';

/** The methods a 405 names in its Allow header (HEAD answers every GET route). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The HTTP app, ready, not listening: tests use inject(), createApi() listens. */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    ajv: { customOptions: AJV_OPTIONS, plugins: [expectedKeyword] },
    // Device ids are up to 128 characters, more once percent-encoded; fastify's default refuses past 100 (414).
    routerOptions: { maxParamLength: 512 },
    frameworkErrors: (err, req, reply) => {
      if (err.code !== 'FST_ERR_BAD_URL') return void (reply as FastifyReply).send(err);
      // A path that is not valid percent-encoding (`/api/v1/devices/%zz`): a 400 in the API's shape.
      void (reply as FastifyReply).code(400).send({
        error: 'TS_ERR_BAD_REQUEST',
        message: `malformed URL ${JSON.stringify(req.url)}: not valid percent-encoding`,
        parameter: 'url',
        value: req.url,
      });
    },
  });
  registerJsonParser(app);
  // Before the routes, which it hooks: responses of 1 KB and more as the request's Accept-Encoding takes (the event
  // stream, hijacked, never). Request bodies are not decompressed: a Content-Encoding header would otherwise bring
  // the plugin's own 415s and 400s, even to a GET.
  if (deps.config.http.compress) {
    await app.register(compress, { threshold: 1024, encodings: ['br', 'gzip', 'deflate'], globalDecompression: false });
  }
  app.addHook('preValidation', refuseLooseIntegers);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const routed = (method: string): boolean => app.findRoute({ method: method as HTTPMethods, url: path }) !== null;
    // A path that has routes, asked with another method: 405 with the methods it takes, as HTTP says (RFC 9110). A
    // route of this method that sent the request here (a static file that is not there) means not found.
    const allowed = routed(req.method) ? [] : METHODS.filter(routed);
    // Livy's clients print an error's `msg` (routes/livy.ts): under /livy/ these answers carry it too, and a client
    // that asks for Livy's interactive sessions (sparkmagic) is told what this server has.
    const livy = path === '/livy' || path.startsWith('/livy/');
    const error = (code: string, message: string) => (livy ? { error: code, message, msg: message } : { error: code, message });
    if (allowed.length > 0) {
      const allow = allowed.join(', ');
      void reply.code(405).header('allow', allow).send(error('TS_ERR_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}: it takes ${allow}`));
      return;
    }
    const hint = livy ? ' (this server has Livy\'s batches API only: /livy/batches)' : '';
    void reply.code(404).send(error('TS_ERR_NOT_FOUND', `no route ${req.method} ${path}${hint}`));
  });
  registerHostCheck(app, deps.config); // before every route: a Host that is not this machine's may be DNS rebinding
  registerAuth(app, deps.config.http.apiToken);
  registerContentNegotiation(app); // before the routes: a 406 for an Accept header that takes none of a route's types
  await registerDocs(app, VERSION);
  registerRouteIndex(app); // GET /api/v1: which routes this server has (the dashboard asks once)
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  healthRoutes(app, deps);
  metricsRoutes(app, deps);
  devicesRoutes(app, deps);
  windowsRoutes(app, deps);
  readingsRoutes(app, deps);
  deadLettersRoutes(app, deps);
  lateReadingsRoutes(app, deps);
  statsRoutes(app, deps);
  streamRoutes(app, deps);
  // Other resources, one line each (their files in routes/; write routes use app.requireToken as preHandler):
  if (deps.iothub) registerRegistryRoutes(app, deps.iothub);
  anomaliesRoutes(app, deps);
  if (deps.jobs) registerLivyRoutes(app, { jobs: deps.jobs });
  if (deps.jobs) registerJobRoutes(app, { jobs: deps.jobs });
  await app.register(async (scope) => registerDashboard(scope));
  await app.ready();
  return app;
}

export interface Api {
  /** The fastify instance (tests use its inject()). */
  readonly app: FastifyInstance;
  readonly url: string;
  readonly port: number;
  /** The HTTP server (MQTT over WebSocket attaches to its upgrades). */
  readonly server: import('node:http').Server;
  close(): Promise<void>;
}

export async function createApi(config: Config, deps: Omit<ApiDeps, 'config'>): Promise<Api> {
  checkExposure(config);
  const app = await buildApp({ ...deps, config });
  try {
    await app.listen({ host: config.host, port: config.http.port });
  } catch (err) {
    await app.close();
    throw listenError('HTTP', '--http-port', config.host, config.http.port, err);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
  return {
    app,
    url: `http://${urlHost(config.host)}:${port}`,
    port,
    server: app.server,
    close: () => app.close(),
  };
}
