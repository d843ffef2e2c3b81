import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import type { DeviceRow } from '../../store/index.ts';
import { cursorParam, decodeCursor, deviceIdParam, iso, isString, limitParam, pageOf } from '../params.ts';
import { NotFoundError } from '../request-errors.ts';
import { AnomalyItem, anomalyItem, badRequest, errors, Next, windowItem, WindowItem } from '../schemas.ts';

const Time = (description: string) => Type.String({ format: 'date-time', description });

const DeviceItem = Type.Object(
  {
    deviceId: Type.String(),
    firstSeen: Time('Arrival of its first reading.'),
    lastSeen: Time('Arrival of its latest reading.'),
    readings: Type.Integer({ description: 'Readings taken, late ones included (GET /api/v1/late-readings); duplicates and rejected messages not counted.' }),
    lastTemperature: Type.Number({ description: 'Temperature of the reading with the latest ts.' }),
    online: Type.Boolean({ description: 'It published within onlineAfterMs.' }),
  },
  { $id: 'Device', title: 'Device' },
);

const ListQuery = Type.Object(
  { limit: limitParam(1000), cursor: Type.Optional(cursorParam()) },
  { additionalProperties: false },
);

const DevicePage = Type.Object({ items: Type.Array(Type.Ref(DeviceItem)), next: Next });

const Params = Type.Object({ id: deviceIdParam('The device id.') }, { additionalProperties: false });
const NoQuery = Type.Object({}, { additionalProperties: false });

const DeviceDetail = Type.Object({
  deviceId: Type.String(),
  firstSeen: Time('Arrival of its first reading.'),
  lastSeen: Time('Arrival of its latest reading.'),
  readings: Type.Integer(),
  lastTemperature: Type.Number(),
  online: Type.Boolean(),
  rejected: Type.Object({
    total: Type.Integer({ description: 'Messages of this device rejected into the dead-letter table.' }),
    byReason: Type.Record(Type.String(), Type.Integer()),
  }),
  windows: Type.Array(Type.Ref(WindowItem), { description: 'Its newest window of each configured window shape.' }),
  openAnomalies: Type.Array(Type.Ref(AnomalyItem), { description: 'Interval anomalies (stuck, drift, dropout) not yet over, newest first.' }),
});

export function devicesRoutes(app: FastifyInstance, { config, clock, store }: ApiDeps): void {
  const item = (d: DeviceRow, now: number) => ({
    deviceId: d.deviceId,
    firstSeen: iso(d.firstSeen),
    lastSeen: iso(d.lastSeen),
    readings: d.readings,
    lastTemperature: d.lastTemperature,
    online: now - d.lastSeen <= config.onlineAfterMs,
  });

  app.addSchema(DeviceItem);

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/v1/devices',
    {
      schema: {
        summary: 'Devices seen',
        description: 'Every device that sent a reading, by deviceId; `next` pages on.',
        tags: ['devices'],
        querystring: ListQuery,
        response: { 200: DevicePage, ...badRequest },
      },
    },
    async (req) => {
      const after = decodeCursor(req.query.cursor, isString);
      const rows = await store.devices({ after, limit: req.query.limit! + 1 });
      const { page, next } = pageOf(rows, req.query.limit!, (last) => last.deviceId);
      const now = clock.now();
      return { items: page.map((d) => item(d, now)), next };
    },
  );

  app.get<{ Params: Static<typeof Params> }>(
    '/api/v1/devices/:id',
    {
      schema: {
        summary: 'One device',
        description: 'Its figures, its newest window of each configured shape, its rejections and open anomalies.',
        tags: ['devices'],
        params: Params,
        querystring: NoQuery,
        response: { 200: DeviceDetail, ...errors },
      },
    },
    async (req) => {
      const id = req.params.id;
      const d = await store.device(id);
      const byReason: Record<string, number> = {};
      let total = 0;
      for (const r of await store.rejectionCounts(id)) {
        byReason[r.reason] = r.count;
        total += r.count;
      }
      if (d === null) {
        if (total === 0) throw new NotFoundError('id', id, 'device');
        // Heard, but nothing it sent was a reading (a field misnamed, say): a bare "no device" would send its
        // developer looking at the connection rather than at the payloads.
        const reasons = Object.entries(byReason).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([r, n]) => `${r}: ${n}`).join(', ');
        const message = `no device "${id}": none of its messages was accepted as a reading (${total} rejected: ${reasons}; see GET /api/v1/dead-letters?deviceId=${id})`;
        throw new NotFoundError('id', id, 'device', { code: 'TS_ERR_NOT_FOUND', message });
      }
      const windows = (
        await Promise.all(config.windows.map((w) =>
          store.windows({ deviceId: id, lengthMs: w.lengthMs, slideMs: w.slideMs, from: -8.64e15, to: 8.64e15, limit: 1 }),
        ))
      ).flat();
      return {
        ...item(d, clock.now()),
        rejected: { total, byReason },
        windows: windows.map(windowItem),
        openAnomalies: (await store.openAnomalies(id, 100)).map(anomalyItem),
      };
    },
  );
}
