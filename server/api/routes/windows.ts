import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { FLEET } from '../../engine/index.ts';
import { toCsv, wantsCsv } from '../csv.ts';
import type { ApiDeps } from '../deps.ts';
import {
  cursorParam,
  decodeCursor,
  deviceOrFleetParam,
  durationParam,
  isNumber,
  limitParam,
  parseDuration,
  NO_BOUND,
  parseTimeRange,
  timeParam,
  encodeCursor,
} from '../params.ts';
import { ParamError } from '../request-errors.ts';
import { badRequest, Next, pageOrCsv, WINDOW_CSV_COLUMNS, windowCsvRow, windowItem, WindowItem } from '../schemas.ts';

const Query = Type.Object(
  {
    deviceId: Type.Optional(deviceOrFleetParam('A device, or * (the default) for fleet-wide windows.')),
    length: Type.Optional(durationParam('Window length (default: the first configured window)')),
    slide: Type.Optional(durationParam('Window slide, when several configured windows share a length')),
    from: Type.Optional(timeParam('Windows starting at or after this time')),
    to: Type.Optional(timeParam('Windows starting before this time')),
    limit: limitParam(100),
    cursor: Type.Optional(cursorParam()),
  },
  { additionalProperties: false },
);

export const WindowsPage = Type.Object({
  items: Type.Array(Type.Ref(WindowItem)),
  next: Next,
});

export function windowsRoutes(app: FastifyInstance, { config, store }: ApiDeps): void {
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/windows',
    {
      schema: {
        summary: 'Window aggregates',
        description:
          'The newest `limit` windows of one device (or the fleet) whose start lies in [from, to), ascending by start. ' +
          '`next` pages on towards older windows. `Accept: text/csv` answers CSV (header line, the same columns; the ' +
          'next page\'s cursor in the `x-next-cursor` header).',
        tags: ['windows'],
        querystring: Query,
        response: {
          200: pageOrCsv('A page of windows', WindowsPage, WINDOW_CSV_COLUMNS),
          ...badRequest,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const slideMs = parseDuration(q.slide);
      // No length: the first configured window, or with a slide the window that has it (not the first one's length).
      const lengthMs = parseDuration(q.length) ?? (slideMs === undefined ? config.windows[0].lengthMs : undefined);
      const matching = config.windows.filter((w) => (lengthMs === undefined || w.lengthMs === lengthMs) && (slideMs === undefined || w.slideMs === slideMs));
      const configured = config.windows.map((w) => `${w.lengthMs}/${w.slideMs}`).join(', ');
      if (matching.length === 0) {
        const [name, value] = slideMs === undefined ? ['length', q.length!] : ['slide', q.slide!];
        throw new ParamError(name, value, `no such window is configured (length/slide ms: ${configured})`);
      }
      if (matching.length > 1 && q.length !== undefined) {
        const slides = matching.map((w) => w.slideMs).join(' or ');
        throw new ParamError('length', q.length, `several configured windows have this length (length/slide ms: ${configured}): give slide too (${slides} ms)`);
      }
      if (matching.length > 1 && q.slide !== undefined) {
        const lengths = matching.map((w) => w.lengthMs).join(' or ');
        throw new ParamError('slide', q.slide!, `several configured windows have this slide (length/slide ms: ${configured}): give length too (${lengths} ms)`);
      }
      const spec = matching[0];
      const before = decodeCursor(q.cursor, isNumber);
      const range = parseTimeRange(q, () => -NO_BOUND, NO_BOUND);
      const rows = await store.windows({
        deviceId: q.deviceId ?? FLEET,
        lengthMs: spec.lengthMs,
        slideMs: spec.slideMs,
        from: range.from,
        to: Math.min(range.to, before ?? Infinity), // the next page: older than the last one's first window
        limit: q.limit! + 1,
      });
      // Ascending, newest limit + 1: the first is there only to tell whether an older page exists.
      const more = rows.length > q.limit!;
      const page = more ? rows.slice(1) : rows;
      const next = more ? encodeCursor(page[0].start) : null;
      if (wantsCsv(req)) {
        if (next !== null) reply.header('x-next-cursor', next);
        return reply.type('text/csv; charset=utf-8').send(toCsv(WINDOW_CSV_COLUMNS, page.map(windowCsvRow)));
      }
      return { items: page.map(windowItem), next };
    },
  );
}
