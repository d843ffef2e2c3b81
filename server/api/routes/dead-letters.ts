import { isUtf8 } from 'node:buffer';
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
    payload: Type.String({
      description:
        'The payload as received, its first ingest.deadLetterPayloadChars bytes: as text when they are UTF-8 (a character ' +
        'cut by the limit left out), else base64 (payloadEncoding).',
    }),
    payloadEncoding: Type.String({
      enum: ['utf8', 'base64'],
      description: '`utf8`: payload is the bytes as text; `base64`: they are not UTF-8, and payload is their base64.',
    }),
    payloadBytes: Type.Integer({ description: 'The payload\'s full size in bytes (more than it kept when it was cut).' }),
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

/** How many bytes a UTF-8 sequence that starts with `lead` has (0: `lead` starts none). */
const sequenceLength = (lead: number): number => (lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0);

/**
 * A dead letter's kept bytes as the API shows them: text when they are UTF-8 — also when the truncation cut a
 * character, whose first bytes are then left out (at most 3) — else base64, so that every byte comes back.
 */
export function payloadView(bytes: Buffer, payloadBytes: number): { payload: string; payloadEncoding: 'utf8' | 'base64' } {
  if (isUtf8(bytes)) return { payload: bytes.toString('utf8'), payloadEncoding: 'utf8' };
  if (bytes.length < payloadBytes) {
    for (let cut = 1; cut <= 3 && cut <= bytes.length; cut++) {
      const lead = bytes.length - cut;
      const continued = bytes.subarray(lead + 1).every((b) => (b & 0xc0) === 0x80);
      if (continued && sequenceLength(bytes[lead]) > cut && isUtf8(bytes.subarray(0, lead))) {
        return { payload: bytes.toString('utf8', 0, lead), payloadEncoding: 'utf8' };
      }
      if ((bytes[lead] & 0xc0) !== 0x80) break; // a lead byte or ASCII: no longer sequence can end here
    }
  }
  return { payload: bytes.toString('base64'), payloadEncoding: 'base64' };
}

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
      const items = page.map((d) => ({ ...d, receivedAt: iso(d.receivedAt), ...payloadView(d.payload, d.payloadBytes) }));
      return { items, next };
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
