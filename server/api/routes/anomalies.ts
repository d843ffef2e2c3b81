import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ANOMALY_TYPES, type AnomalyType } from '../../engine/detectors/index.ts';
import type { ApiDeps } from '../deps.ts';
import { toCsv, wantsCsv } from '../csv.ts';
import { cursorParam, decodeCursor, deviceFilter, deviceFilterParam, limitParam, NO_BOUND, pageOf, parseTimeRange, timeParam } from '../params.ts';
import { AnomalyItem, anomalyItem, badRequest, Next, pageOrCsv } from '../schemas.ts';

const Query = Type.Object(
  {
    deviceId: Type.Optional(deviceFilterParam('Only this device\'s anomalies.')),
    type: Type.Optional(
      Type.String({ enum: [...ANOMALY_TYPES], description: 'Only this type.', 'x-expected': `one of ${ANOMALY_TYPES.join(', ')}` }),
    ),
    from: Type.Optional(timeParam('Earliest event time (inclusive)')),
    to: Type.Optional(timeParam('Latest event time (exclusive)')),
    limit: limitParam(100),
    cursor: Type.Optional(cursorParam()),
  },
  { additionalProperties: false },
);

const Page = Type.Object({ items: Type.Array(Type.Ref(AnomalyItem)), next: Next });

/** A page boundary: the last item's (ts, deviceId, type, n) (store/types.ts, StoredAnomaly). */
type Before = [number, string, string, number];
const isBefore = (k: unknown): k is Before =>
  Array.isArray(k) && k.length === 4 && Number.isSafeInteger(k[0]) && typeof k[1] === 'string' && typeof k[2] === 'string' &&
  Number.isSafeInteger(k[3]);

const CSV_COLUMNS = Object.keys(AnomalyItem.properties);

/**
 * GET /api/v1/anomalies: newest first (by event time), a page at a time; `from`/`to` bound the anomaly's event time.
 * CSV with `Accept: text/csv` (the next page's cursor in the x-next-cursor header).
 */
export function anomaliesRoutes(app: FastifyInstance, { store }: ApiDeps): void {
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/anomalies',
    {
      schema: {
        summary: 'Flagged readings and intervals',
        description: 'Newest first by event time; `next` pages on towards older ones. Interval anomalies (stuck, drift, dropout) have start and end (end null while open).',
        tags: ['anomalies'],
        querystring: Query,
        response: {
          200: pageOrCsv('A page of anomalies', Page, CSV_COLUMNS),
          ...badRequest,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const before = decodeCursor(q.cursor, isBefore);
      const { from, to } = parseTimeRange(q, () => -NO_BOUND, NO_BOUND);
      const rows = await store.anomalies({
        deviceId: deviceFilter(q.deviceId),
        type: q.type as AnomalyType | undefined,
        from,
        to,
        limit: q.limit! + 1,
        before: before && { ts: before[0], deviceId: before[1], type: before[2], n: before[3] },
      });
      const { page, next } = pageOf(rows, q.limit!, (last) => [last.ts, last.deviceId, last.type, last.n]);
      const items = page.map(anomalyItem);
      if (wantsCsv(req)) {
        if (next !== null) reply.header('x-next-cursor', next);
        return reply.type('text/csv; charset=utf-8').send(toCsv(CSV_COLUMNS, items));
      }
      return { items, next };
    },
  );
}
