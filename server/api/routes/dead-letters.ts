import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { RejectReasons } from '../../errors.ts';
import type { ApiDeps } from '../deps.ts';
import { cursorParam, decodeCursor, deviceFilter, deviceFilterParam, isNumber, isString, iso, limitParam, pageOf } from '../params.ts';
import { badRequest, Next } from '../schemas.ts';

const Query = Type.Object(
  {
    deviceId: Type.Optional(deviceFilterParam('Only this device\'s dead letters.')),
    reason: Type.Optional(
      Type.String({
        enum: [...RejectReasons],
        description: 'Only this rejection reason.',
        'x-expected': `one of ${RejectReasons.join(', ')}`,
      }),
    ),
    limit: limitParam(100),
    cursor: Type.Optional(cursorParam()),
  },
  { additionalProperties: false },
);

const DeadLetterItem = Type.Object(
  {
    id: Type.Integer(),
    receivedAt: Type.String({ format: 'date-time' }),
    deviceId: Type.Union([Type.String(), Type.Null()], { description: 'null when the topic named no valid device.' }),
    topic: Type.String(),
    reason: Type.String({ enum: [...RejectReasons] }),
    detail: Type.String({ description: 'What was wrong, with the offending value.' }),
    payload: Type.String({ description: 'The raw payload, truncated to ingest.deadLetterPayloadChars.' }),
    payloadBytes: Type.Integer({ description: 'The payload\'s full size.' }),
  },
  { $id: 'DeadLetter', title: 'DeadLetter' },
);

const Page = Type.Object({ items: Type.Array(Type.Ref(DeadLetterItem)), next: Next });

const ByDeviceQuery = Type.Object(
  { limit: limitParam(1000), cursor: Type.Optional(cursorParam()) },
  { additionalProperties: false },
);

const ByDevice = Type.Object({
  items: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      total: Type.Integer({ description: 'Messages of this device rejected into the dead-letter table.' }),
      byReason: Type.Record(Type.String(), Type.Integer()),
    }),
  ),
  next: Next,
});
type ByDeviceItem = Static<typeof ByDevice>['items'][number];

export function deadLettersRoutes(app: FastifyInstance, { store }: ApiDeps): void {
  app.addSchema(DeadLetterItem);
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/dead-letters',
    {
      schema: {
        summary: 'Rejected messages',
        description: 'Newest first; `next` pages on towards older ones.',
        tags: ['dead-letters'],
        querystring: Query,
        response: { 200: Page, ...badRequest },
      },
    },
    async (req) => {
      const q = req.query;
      const rows = await store.deadLetters({
        deviceId: deviceFilter(q.deviceId),
        reason: q.reason,
        beforeId: decodeCursor(q.cursor, isNumber),
        limit: q.limit! + 1,
      });
      const { page, next } = pageOf(rows, q.limit!, (last) => last.id);
      return { items: page.map((d) => ({ ...d, receivedAt: iso(d.receivedAt) })), next };
    },
  );

  app.get<{ Querystring: Static<typeof ByDeviceQuery> }>(
    '/api/v1/dead-letters/devices',
    {
      schema: {
        summary: 'Rejected messages counted by device',
        description:
          'Every device with a rejected message, by deviceId, with its counts by reason (messages on a topic that names no ' +
          'valid device are not counted). It includes devices none of whose messages was accepted, which GET /api/v1/devices ' +
          'does not list. `next` pages on.',
        tags: ['dead-letters'],
        querystring: ByDeviceQuery,
        response: { 200: ByDevice, ...badRequest },
      },
    },
    async (req) => {
      const limit = req.query.limit!;
      const items: ByDeviceItem[] = [];
      // Rows of up to limit + 1 devices, every reason of each: the one beyond the page says there is a next one.
      for (const r of await store.rejectionsByDevice({ after: decodeCursor(req.query.cursor, isString), limit: limit + 1 })) {
        if (items.at(-1)?.deviceId !== r.deviceId) items.push({ deviceId: r.deviceId, total: 0, byReason: {} });
        const item = items.at(-1)!;
        item.total += r.count;
        item.byReason[r.reason] = r.count;
      }
      const { page, next } = pageOf(items, limit, (last) => last.deviceId);
      return { items: page, next };
    },
  );
}
