/**
 * GET /api/v1/anomalies?deviceId=&type=&from=&to=&limit=&cursor= — anomalies newest first (by event time), one page
 * at a time: `next` is the cursor of the following page (null on the last one). `from`/`to` bound the anomaly's
 * event time (from inclusive, to exclusive).
 */
import type { FastifyInstance } from 'fastify';
import { ANOMALY_TYPES, type Anomaly, type AnomalyType } from '../../engine/detectors/index.ts';
import { DEVICE_ID } from '../../ingest/decode.ts';
import type { Store } from '../../store/index.ts';
import { checkKnown, intParam, iso, ParamError, stringParam, timeParam, type Query } from '../params.ts';

const TYPE = new RegExp(`^(${ANOMALY_TYPES.join('|')})$`);

/** A page boundary: the last item's (ts, deviceId, type), as base64url JSON. */
function encodeCursor(a: Anomaly): string {
  return Buffer.from(JSON.stringify([a.ts, a.deviceId, a.type])).toString('base64url');
}

function decodeCursor(q: Query): { ts: number; deviceId: string; type: string } | undefined {
  const raw = stringParam(q, 'cursor');
  if (raw === undefined) return undefined;
  try {
    const [ts, deviceId, type] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    if (Number.isSafeInteger(ts) && typeof deviceId === 'string' && typeof type === 'string') return { ts: ts as number, deviceId, type };
  } catch {
    // reported below
  }
  throw new ParamError('cursor', raw, 'not a cursor this API returned (use the "next" value of the previous page)');
}

const time = (t: number | null): string | null => (t === null ? null : iso(t));

export function registerAnomalies(app: FastifyInstance, deps: { store: Store }): void {
  app.get('/api/v1/anomalies', async (req) => {
    const q = req.query as Query;
    checkKnown(q, ['deviceId', 'type', 'from', 'to', 'limit', 'cursor']);
    const limit = intParam(q, 'limit', 100, 1, 10_000);
    const items = deps.store.anomalies({
      deviceId: stringParam(q, 'deviceId', DEVICE_ID),
      type: stringParam(q, 'type', TYPE) as AnomalyType | undefined,
      from: timeParam(q, 'from', -8.64e15),
      to: timeParam(q, 'to', 8.64e15),
      limit: limit + 1,
      before: decodeCursor(q),
    });
    const page = items.slice(0, limit);
    return {
      items: page.map((a) => ({
        deviceId: a.deviceId,
        type: a.type,
        ts: iso(a.ts),
        score: a.score,
        value: a.value,
        expected: a.expected,
        threshold: a.threshold,
        start: time(a.start),
        end: time(a.end),
        detectedAt: iso(a.detectedAt),
      })),
      next: items.length > limit ? encodeCursor(page[page.length - 1]) : null,
    };
  });
}
