import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { iso, isoOrNull } from '../params.ts';
import { badRequest } from '../schemas.ts';

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);

const LastBatch = Type.Object({
  batch: Type.Integer({ description: 'Batch number (continues across restarts; the SSE event id).' }),
  batchTime: Time,
  records: Type.Integer(),
  late: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  windowsUpdated: Type.Integer(),
  schedulingDelayMs: Type.Number(),
  processingMs: Type.Number(),
  jobMs: Type.Number({ description: "Decoding the batch's readings and running the telemetry job (in the batch thread), most of it before the batch's time when blocks > 0." }),
  blocks: Type.Integer({ description: "Blocks of the batch's readings processed before its time (blockIntervalMs)." }),
  commitMs: Type.Number({ description: 'Of processingMs: committing the outputs and checkpoint to the store.' }),
  totalDelayMs: Type.Number(),
  watermark: NullableTime,
  logOffset: Type.Integer(),
  memory: Type.Object(
    {
      thread: Type.Union([Type.Literal('worker'), Type.Literal('main')], { description: 'batchThread: the batch thread, or the main thread.' }),
      heapUsedBytes: Type.Integer(),
      heapTotalBytes: Type.Integer(),
      arrayBuffersBytes: Type.Integer({ description: "Array buffers outside the heap (the windows' panes and the recent raw readings live in them)." }),
    },
    { description: "The V8 heap and array buffers of the thread that ran the batch, at its commit. With batchThread worker this is the batch thread's own, which the process's nodejs_heap_* metrics do not include." },
  ),
});

const Stats = Type.Object({
  batchIntervalMs: Type.Integer(),
  windows: Type.Array(Type.Object({ lengthMs: Type.Integer(), slideMs: Type.Integer() }), { description: 'The configured windows.' }),
  batches: Type.Integer({ description: 'Batches committed (continues across restarts).' }),
  records: Type.Integer({ description: 'Readings processed since start (duplicates not counted).' }),
  inputRate: Type.Number({ description: 'Readings per second over the last 10 batches.' }),
  lastBatch: Type.Union([LastBatch, Type.Null()]),
  watermark: NullableTime,
  backlog: Type.Integer({ description: 'Durable records the engine has not taken yet.' }),
  heldAcks: Type.Integer({ description: 'QoS 1 acknowledgements held back (backpressure; with ack after commit, also those waiting for their batch to commit).' }),
  logEndOffset: Type.Integer(),
  replayed: Type.Integer({ description: 'Records replayed from the log at start-up.' }),
  accepted: Type.Integer({ description: 'Readings accepted since start.' }),
  late: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Object({ total: Type.Integer(), byReason: Type.Record(Type.String(), Type.Integer()) }),
  foreign: Type.Integer({ description: 'Messages for devices another instance owns (cluster.instances), acknowledged and dropped since start.' }),
  sseClients: Type.Integer({ description: 'Clients connected to GET /api/v1/stream.' }),
  storage: Type.Object(
    {
      ok: Type.Boolean({ description: 'false while a write fails for want of space: acknowledgements are held and the write is retried.' }),
      code: Type.Union([Type.String(), Type.Null()]),
      error: Type.Union([Type.String(), Type.Null()], { description: 'The failing write: path, errno, free and needed space.' }),
      since: NullableTime,
      failing: Type.Array(Type.String(), { description: 'The failing parts: log, database.' }),
      retries: Type.Integer(),
    },
    { description: 'Whether the data dir takes writes (a full disk is waited out, not fatal).' },
  ),
  security: Type.Optional(
    Type.Object(
      {
        authFailures: Type.Object({ total: Type.Integer(), byReason: Type.Record(Type.String(), Type.Integer()) }),
        refusedPublishes: Type.Integer(),
        refusedSubscriptions: Type.Integer(),
        qos2Disconnects: Type.Integer(),
        oversizedPackets: Type.Integer({ description: 'Connections closed for a packet over mqtt.maxPacketBytes.' }),
        packetsBeforeConnack: Type.Integer({ description: 'Connections closed for sending more than 1,000 packets before their CONNACK.' }),
      },
      { description: 'The embedded broker\'s refusals: failed connections by reason, publishes and subscriptions outside a device\'s own topics, QoS 2 disconnects, packets over mqtt.maxPacketBytes, too many packets before CONNACK (absent in external broker mode).' },
    ),
  ),
  iothub: Type.Optional(
    Type.Object(
      {
        connectedDevices: Type.Integer({ description: 'Clients connected now as a device, one per client id: with auth none every client (plain MQTT and the IoT Hub SDK alike), with auth registry the clients signed in as one device (a SAS token, a user bound to a device; not a gateway user of deviceId "*"). A connection that publishes for many devices counts once.' }),
        twinRequests: Type.Integer({ description: 'Twin gets and reported-property updates devices sent.' }),
        methodCalls: Type.Integer({ description: 'Direct method calls made.' }),
        methodTimeouts: Type.Integer({ description: 'Of those, the ones the device did not answer in time (504).' }),
        cloudMessagesDelivered: Type.Integer({ description: 'Cloud-to-device messages delivered.' }),
      },
      { description: 'The IoT Hub side of the embedded broker, since the server started (absent in external broker mode).' },
    ),
  ),
});

export function statsRoutes(app: FastifyInstance, { config, engine, ingest, hub, iothub }: ApiDeps): void {
  app.get(
    '/api/v1/stats',
    {
      schema: {
        summary: 'Engine and ingest figures',
        tags: ['stats'],
        querystring: Type.Object({}, { additionalProperties: false }),
        response: { 200: Stats, ...badRequest },
      },
    },
    async () => {
      const e = engine.stats();
      const i = ingest.stats();
      return {
        batchIntervalMs: e.batchIntervalMs,
        windows: config.windows.map((w) => ({ lengthMs: w.lengthMs, slideMs: w.slideMs })),
        batches: e.batches,
        records: e.records,
        inputRate: e.inputRate,
        lastBatch: e.lastBatch && { ...e.lastBatch, batchTime: iso(e.lastBatch.batchTime), watermark: isoOrNull(e.lastBatch.watermark) },
        watermark: isoOrNull(e.watermark),
        backlog: i.backlog,
        heldAcks: i.heldAcks,
        logEndOffset: i.logEndOffset,
        replayed: e.replayed,
        accepted: i.accepted,
        late: e.late,
        duplicates: e.duplicates,
        rejected: { total: i.rejected, byReason: i.rejectedByReason },
        foreign: i.foreign,
        sseClients: hub.clients,
        storage: i.storage,
        ...(iothub && { security: iothub.security(), iothub: iothub.hub.stats() }),
      };
    },
  );
}
