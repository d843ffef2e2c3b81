import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { series, type SeriesPoint } from '../downsample.ts';
import { deviceIdParam, iso, parseTimeRange, timeParam } from '../params.ts';
import { NotFoundError } from '../request-errors.ts';
import { errors } from '../schemas.ts';

const DEFAULT_SPAN_MS = 3_600_000;
/**
 * The aggregates come from the finest window whose slides over the range number at most this many per point asked
 * for: a day of readings is read as 1,440 five-minute windows, not 43,200 ten-second ones (SQLite's reads are
 * synchronous: every window read holds the server's main thread).
 */
const WINDOWS_PER_POINT = 4;
/** At most this many windows are read, the newest, when even the coarsest window has more in the range. */
const MAX_WINDOWS = 100_000;

const Query = Type.Object(
  {
    deviceId: deviceIdParam('The device.'),
    from: Type.Optional(timeParam('Start (inclusive; default: an hour before `to`)')),
    to: Type.Optional(timeParam('End (exclusive; default: now)')),
    maxPoints: Type.Optional(Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 1000,
      description: 'At most this many points (default 1000); more are merged into equal runs.',
      'x-expected': 'an integer from 1 to 10000',
    })),
  },
  { additionalProperties: false },
);

const Point = Type.Object({
  ts: Type.String({ format: 'date-time', description: 'A raw reading\'s ts; a window\'s middle; a merged run\'s first.' }),
  temperature: Type.Number({ description: 'The reading, or the (count-weighted) average.' }),
  humidity: Type.Union([Type.Number(), Type.Null()]),
  count: Type.Integer({ description: 'Readings behind the point.' }),
  min: Type.Number(),
  max: Type.Number(),
  source: Type.String({ enum: ['raw', 'window'], description: 'raw readings (recent past) or window aggregates (see `window`).' }),
});

const Series = Type.Object({
  deviceId: Type.String(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  rawFrom: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Raw readings are served from this time on; before it, window aggregates. null: none in [from, to).',
  }),
  window: Type.Object({ lengthMs: Type.Integer(), slideMs: Type.Integer() }, { description: 'The window the aggregates come from.' }),
  items: Type.Array(Point),
});

export function readingsRoutes(app: FastifyInstance, { config, clock, store, engine }: ApiDeps): void {
  // Finest first: the shortest, then the smallest slide. The coarsest is the one with the fewest windows in a range.
  const shapes = [...config.windows].sort((a, b) => a.lengthMs - b.lengthMs || a.slideMs - b.slideMs);
  const coarsest = shapes.reduce((a, b) => (b.slideMs > a.slideMs ? b : a));
  const windowFor = (spanMs: number, maxPoints: number) =>
    shapes.find((w) => spanMs / w.slideMs <= WINDOWS_PER_POINT * maxPoints) ?? coarsest;

  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/readings',
    {
      schema: {
        summary: 'A device\'s temperature series for charts',
        description:
          'Raw readings of the recent past (kept in memory: the newest recentReadings.perDevice per device, at most ' +
          'recentReadings.maxAgeMs old, since the server started), window aggregates before that; never more than ' +
          'maxPoints points, ascending by ts. The aggregates come from the finest configured window with at most 4 × ' +
          'maxPoints slides in the range (else the one with the longest slide, its newest 100,000 windows): `window` ' +
          'says which. Not paged: narrow from/to instead.',
        tags: ['readings'],
        querystring: Query,
        response: { 200: Series, ...errors },
      },
    },
    async (req) => {
      const q = req.query;
      const now = clock.now();
      const { from, to } = parseTimeRange(q, (to) => to - DEFAULT_SPAN_MS, now);
      if ((await store.device(q.deviceId)) === null) throw new NotFoundError('deviceId', q.deviceId, 'device');

      const recent = await engine.recentReadings(q.deviceId, from, to);
      const raw: SeriesPoint[] = recent.points.map((p) => ({ ...p, count: 1, min: p.temperature, max: p.temperature, source: 'raw' }));
      // Windows whose middle lies in [from, min(to, rawFrom)).
      const aggEnd = Math.min(to, recent.coveredFrom);
      const shape = windowFor(aggEnd - from, q.maxPoints!);
      const half = shape.lengthMs / 2;
      const windows =
        aggEnd <= from
          ? []
          : await store.windows({
              deviceId: q.deviceId,
              lengthMs: shape.lengthMs,
              slideMs: shape.slideMs,
              from: Math.floor(from - half),
              to: Math.ceil(aggEnd - half),
              limit: MAX_WINDOWS,
            });
      // Windows without readings (they hold only an anomaly, e.g. a dropout) have no temperature to plot.
      const agg: SeriesPoint[] = windows.filter((w) => w.count > 0).map((w) => ({
        ts: w.start + half,
        temperature: w.avg!,
        humidity: w.humidityAvg,
        count: w.count,
        min: w.min!,
        max: w.max!,
        source: 'window',
      }));
      const items = series(agg, raw, q.maxPoints!).map((p) => ({ ...p, ts: iso(p.ts) }));
      return {
        deviceId: q.deviceId,
        from: iso(from),
        to: iso(to),
        rawFrom: recent.coveredFrom < to ? iso(Math.max(from, recent.coveredFrom)) : null,
        window: { lengthMs: shape.lengthMs, slideMs: shape.slideMs },
        items,
      };
    },
  );
}
