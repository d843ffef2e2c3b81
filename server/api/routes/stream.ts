import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { badRequest } from '../schemas.ts';
import { STREAM_KINDS, type StreamKind } from '../sse-hub.ts';

const DEVICE = '[A-Za-z0-9._:-]{1,128}|\\*';
const KIND = STREAM_KINDS.join('|');

const Query = Type.Object(
  {
    deviceId: Type.Optional(
      Type.String({
        pattern: `^(${DEVICE})(,(${DEVICE}))*$`,
        description: 'Only events of these devices (comma-separated; * = fleet-wide windows). Batch events always pass.',
        'x-expected': 'device ids matching [A-Za-z0-9._:-]{1,128} (or *), separated by commas',
      }),
    ),
    kind: Type.Optional(
      Type.String({
        pattern: `^(${KIND})(,(${KIND}))*$`,
        description: `Only these kinds of event (comma-separated): ${STREAM_KINDS.join(', ')}. Default: all.`,
        'x-expected': `${STREAM_KINDS.join(', ')}, separated by commas`,
      }),
    ),
    lastEventId: Type.Optional(
      Type.String({
        pattern: '^\\d{1,15}$',
        description: 'Resume after this batch, for clients that cannot send the Last-Event-ID header.',
        'x-expected': 'a batch number (an event id)',
      }),
    ),
  },
  { additionalProperties: false },
);

const STREAM_DOC = `Server-Sent Events (text/event-stream) of committed batches:

- \`event: window\` — a window result the batch wrote (the fields of GET /api/v1/windows, plus \`batch\`)
- \`event: anomaly\` — an anomaly the batch wrote, flagged or (an interval's) ended (the fields of GET /api/v1/anomalies, plus \`batch\`)
- \`event: batch\` — the batch's figures (\`batch\`, committedAt, records, late, duplicates, rejected, windowsUpdated, watermark, logOffset)
- \`event: reset\` — after a Last-Event-ID that memory no longer holds, when a replay from the store would take more than 20,000 windows (of the filter's devices; or 200,000 of all devices for a filter by device): reload through the query routes
- \`: heartbeat <time>\` comments every http.sseHeartbeatMs

Event ids are batch numbers (they continue across restarts); the last event a client gets of each batch carries
it. Reconnecting with \`Last-Event-ID\` (EventSource does this by itself) replays every batch after it: from memory
(the last 600 batches, at most 50,000 events: every event, however many windows), or from the store (after a
restart), where a window updated by several missed batches comes once, in its latest state, under the last batch
that wrote it.`;

export function streamRoutes(app: FastifyInstance, { hub }: ApiDeps): void {
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/v1/stream',
    {
      schema: {
        summary: 'Live window results, anomalies and batch figures (SSE)',
        description: STREAM_DOC,
        tags: ['stream'],
        querystring: Query,
        headers: Type.Object({
          'last-event-id': Type.Optional(
            Type.String({ pattern: '^\\d{1,15}$', description: 'Resume after this batch.', 'x-expected': 'a batch number (an event id)' }),
          ),
        }),
        response: {
          200: { description: 'An endless event stream', content: { 'text/event-stream': { schema: Type.String() } } },
          ...badRequest,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const header = req.headers['last-event-id'];
      const last = typeof header === 'string' ? header : q.lastEventId; // both validated by the schema
      const filter = {
        deviceIds: q.deviceId === undefined ? null : new Set(q.deviceId.split(',')),
        kinds: new Set<StreamKind>(q.kind === undefined ? STREAM_KINDS : (q.kind.split(',') as StreamKind[])),
      };
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // HEAD (a probe, `curl -I`): the headers of the stream and nothing more. Node sends no body on a HEAD, so
      // without end() the answer never went out and the probe was held as a subscriber of the stream.
      if (req.method === 'HEAD') return void res.end();
      res.write(': thermostream stream\nretry: 2000\n\n');
      const unsubscribe = hub.subscribe(res, filter, last === undefined ? null : Number(last));
      req.raw.once('close', unsubscribe);
      res.once('close', unsubscribe);
    },
  );
}
