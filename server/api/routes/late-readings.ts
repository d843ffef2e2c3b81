import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { cursorParam, decodeCursor, deviceFilter, deviceFilterParam, isNumber, iso, limitParam, pageOf } from '../params.ts';
import { badRequest, Next } from '../schemas.ts';

const Query = Type.Object(
  {
    deviceId: Type.Optional(deviceFilterParam('Only this device\'s late readings.')),
    limit: limitParam(100),
    cursor: Type.Optional(cursorParam()),
  },
  { additionalProperties: false },
);

const LateReadingItem = Type.Object(
  {
    id: Type.Integer(),
    deviceId: Type.String(),
    ts: Type.String({ format: 'date-time', description: 'The reading\'s own time.' }),
    arrival: Type.String({ format: 'date-time', description: 'When the server received it.' }),
    temperature: Type.Number(),
    humidity: Type.Union([Type.Number(), Type.Null()]),
    seq: Type.Union([Type.Number(), Type.Null()]),
    watermark: Type.String({ format: 'date-time', description: 'The watermark it was behind: its windows were final already.' }),
  },
  { $id: 'LateReading', title: 'LateReading' },
);

const Page = Type.Object({ items: Type.Array(Type.Ref(LateReadingItem)), next: Next });

/** Readings that came behind the watermark: accepted and kept (retention.lateReadingsMs), in no window. */
export function lateReadingsRoutes(app: FastifyInstance, { store }: ApiDeps): void {
  app.addSchema(LateReadingItem);
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/late-readings',
    {
      schema: {
        summary: 'Readings that came too late for their windows',
        description:
          'Readings behind the watermark (the newest event time seen minus the allowed lateness): accepted and kept, ' +
          'but in no window. Newest first; `next` pages on towards older ones.',
        tags: ['readings'],
        querystring: Query,
        response: { 200: Page, ...badRequest },
      },
    },
    async (req) => {
      const q = req.query;
      const rows = await store.lateReadings({ deviceId: deviceFilter(q.deviceId), beforeId: decodeCursor(q.cursor, isNumber), limit: q.limit! + 1 });
      const { page, next } = pageOf(rows, q.limit!, (last) => last.id);
      return { items: page.map((r) => ({ ...r, ts: iso(r.ts), arrival: iso(r.arrival), watermark: iso(r.watermark) })), next };
    },
  );
}
