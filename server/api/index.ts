import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Clock } from '../clock.ts';
import { FLEET, type Engine } from '../engine/index.ts';
import { listenError, RejectReasons } from '../errors.ts';
import { DEVICE_ID } from '../ingest/decode.ts';
import type { Ingest } from '../ingest/index.ts';
import type { Store } from '../store/index.ts';
import { checkKnown, durationParam, intParam, iso, ParamError, stringParam, timeParam, type Query } from './params.ts';
import { urlHost } from '../url.ts';
import { registerDashboard } from './static.ts';
import { registerAnomalies } from './routes/anomalies.ts';

export interface ApiDeps {
  config: Config;
  clock: Clock;
  store: Store;
  engine: Engine;
  ingest: Ingest;
}

const DEVICE_OR_FLEET = new RegExp(`${DEVICE_ID.source}|^\\*$`);
const REASON = new RegExp(`^(${RejectReasons.join('|')})$`);

/** The HTTP app, not listening: tests use inject(), createApi() listens. */
export function buildApp(deps: ApiDeps): FastifyInstance {
  const { config, clock, store, engine, ingest } = deps;
  const app = Fastify({ logger: false });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof ParamError) {
      return reply.code(400).send({ error: err.code, message: err.message, parameter: err.parameter, value: err.value });
    }
    const status = err.statusCode ?? 500;
    return reply.code(status).send({ error: err.code ?? 'TS_ERR_INTERNAL', message: err.message });
  });

  app.get('/healthz', async () => ({ status: 'ok', batches: engine.stats().batches }));

  app.get('/api/v1/devices', async (req) => {
    checkKnown(req.query as Query, []);
    const now = clock.now();
    return {
      items: store.devices().map((d) => ({
        deviceId: d.deviceId,
        firstSeen: iso(d.firstSeen),
        lastSeen: iso(d.lastSeen),
        readings: d.readings,
        lastTemperature: d.lastTemperature,
        online: now - d.lastSeen <= config.onlineAfterMs,
      })),
    };
  });

  app.get('/api/v1/windows', async (req) => {
    const q = req.query as Query;
    checkKnown(q, ['deviceId', 'length', 'slide', 'from', 'to', 'limit']);
    const deviceId = stringParam(q, 'deviceId', DEVICE_OR_FLEET) ?? FLEET;
    const lengthMs = durationParam(q, 'length') ?? config.windows[0].lengthMs;
    const slideMs = durationParam(q, 'slide');
    const spec = config.windows.find((w) => w.lengthMs === lengthMs && (slideMs === undefined || w.slideMs === slideMs));
    if (spec === undefined) {
      const configured = config.windows.map((w) => `${w.lengthMs}/${w.slideMs}`).join(', ');
      const [name, value] = slideMs === undefined ? ['length', q.length] : ['slide', q.slide];
      throw new ParamError(name, String(value), `no such window is configured (length/slide ms: ${configured})`);
    }
    const items = store.windows({
      deviceId,
      lengthMs,
      slideMs: spec.slideMs,
      from: timeParam(q, 'from', -8.64e15),
      to: timeParam(q, 'to', 8.64e15),
      limit: intParam(q, 'limit', 100, 1, 10_000),
    });
    return { items: items.map((w) => ({ ...w, start: iso(w.start), end: iso(w.end) })) };
  });

  app.get('/api/v1/dead-letters', async (req) => {
    const q = req.query as Query;
    checkKnown(q, ['deviceId', 'reason', 'limit']);
    const items = store.deadLetters({
      deviceId: stringParam(q, 'deviceId', DEVICE_ID),
      reason: stringParam(q, 'reason', REASON),
      limit: intParam(q, 'limit', 100, 1, 10_000),
    });
    return { items: items.map((d) => ({ ...d, receivedAt: iso(d.receivedAt) })) };
  });

  app.get('/api/v1/stats', async () => {
    const e = engine.stats();
    const i = ingest.stats();
    return {
      batchIntervalMs: e.batchIntervalMs,
      batches: e.batches,
      records: e.records,
      inputRate: e.inputRate,
      lastBatch: e.lastBatch && {
        ...e.lastBatch,
        batchTime: iso(e.lastBatch.batchTime),
        watermark: Number.isFinite(e.lastBatch.watermark) ? iso(e.lastBatch.watermark) : null,
      },
      watermark: e.watermark === null ? null : iso(e.watermark),
      backlog: i.backlog,
      heldAcks: i.heldAcks,
      logEndOffset: i.logEndOffset,
      replayed: e.replayed,
      accepted: i.accepted,
      late: e.late,
      duplicates: e.duplicates,
      rejected: { total: i.rejected, byReason: i.rejectedByReason },
    };
  });

  registerAnomalies(app, { store });
  registerDashboard(app);
  return app;
}

export interface Api {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function createApi(config: Config, deps: Omit<ApiDeps, 'config'>): Promise<Api> {
  const app = buildApp({ ...deps, config });
  try {
    await app.listen({ host: config.host, port: config.http.port });
  } catch (err) {
    await app.close();
    throw listenError('HTTP', '--http-port', config.host, config.http.port, err);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.http.port;
  return {
    url: `http://${urlHost(config.host)}:${port}`,
    port,
    close: () => app.close(),
  };
}
