import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { badRequest } from '../schemas.ts';

const NoQuery = Type.Object({}, { additionalProperties: false });

const Ready = Type.Object({
  status: Type.String({ enum: ['ready', 'not ready'] }),
  reasons: Type.Array(Type.String(), { description: 'What is wrong; empty when ready.' }),
});

/** The engine counts as stalled when no batch completed for this many batch intervals (and at least 30 s). */
export const STALL_INTERVALS = 10;
const STALL_MIN_MS = 30_000;

export function healthRoutes(app: FastifyInstance, { config, clock, store, engine, ingest, broker }: ApiDeps): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['health'],
        querystring: NoQuery,
        response: { 200: Type.Object({ status: Type.Literal('ok'), batches: Type.Integer() }), ...badRequest },
      },
    },
    async () => ({ status: 'ok' as const, batches: engine.stats().batches }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: broker listening, store writable, engine not stalled',
        description:
          'Writes one row to the store (SQLite or PostgreSQL) and creates (and removes) a directory in the data directory on every call; 503 with the reasons ' +
          `when a check fails. Stalled: no batch completed for ${STALL_INTERVALS} batch intervals (at least 30 s).`,
        tags: ['health'],
        querystring: NoQuery,
        response: { 200: Ready, ...badRequest, 503: Ready },
      },
    },
    async (_req, reply) => {
      const reasons: string[] = [];
      if (!broker.listening) reasons.push('broker: not taking MQTT input (the listener is closed, or the external broker is disconnected)');
      try {
        await store.probeWrite(clock.now());
      } catch (err) {
        reasons.push(`store: cannot write to ${store.file}: ${(err as Error).message}`);
      }
      const storage = ingest.stats().storage;
      if (!storage.ok) {
        const what = storage.code === 'TS_ERR_STORE_UNAVAILABLE' ? 'the store takes no commit (unreachable, or this instance\'s lock lost)' : 'the data dir is full';
        reasons.push(`storage: ${what}, acknowledgements are held: ${storage.error}`);
      }
      const status = engine.status();
      const stallMs = Math.max(STALL_MIN_MS, STALL_INTERVALS * config.batchIntervalMs);
      if (status.failure !== null) reasons.push(`engine: failed: ${status.failure}`);
      else if (!status.running) reasons.push('engine: not running');
      else if (clock.now() - status.lastBatchAt > stallMs) {
        reasons.push(`engine: stalled, no batch completed for ${clock.now() - status.lastBatchAt} ms`);
      }
      return reply.code(reasons.length === 0 ? 200 : 503).send({ status: reasons.length === 0 ? 'ready' : 'not ready', reasons });
    },
  );
}
