import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ThreadMemory } from '../../engine/batch-runner.ts';
import type { ApiDeps } from '../deps.ts';
import { badRequest } from '../schemas.ts';

/**
 * Prometheus metrics. Everything is read from the stages' own figures when scraped, except the two per-batch
 * histograms, which the engine's onBatch listener feeds once per committed batch: nothing on the per-reading path.
 */
export function createMetrics({ clock, engine, ingest, broker, hub }: ApiDeps): { registry: Registry; close(): void } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  /** A counter mirroring a running total kept elsewhere: set at scrape time. */
  const mirror = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const v = read();
        if (v > 0) this.inc(v);
      },
    });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });

  mirror('thermostream_readings_accepted_total', 'Readings accepted by ingest (durable in the log) since start.', () => ingest.stats().accepted);
  new Counter({
    name: 'thermostream_readings_rejected_total',
    help: 'Messages rejected into the dead-letter table since start, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(ingest.stats().rejectedByReason)) if (n) this.inc({ reason }, n);
    },
  });
  mirror('thermostream_readings_foreign_total', 'Messages for devices another instance owns (cluster.instances), acknowledged and dropped since start.', () => ingest.stats().foreign);
  mirror('thermostream_readings_processed_total', 'Readings processed by the engine since start (duplicates not counted).', () => engine.stats().records);
  mirror('thermostream_readings_late_total', 'Readings behind the watermark (kept, in no window) since start.', () => engine.stats().late);
  mirror('thermostream_readings_duplicate_total', 'Readings dropped as duplicates, by (deviceId, seq) or (deviceId, messageId), since start.', () => engine.stats().duplicates);
  mirror('thermostream_batches_total', 'Batches committed (continues across restarts).', () => engine.stats().batches);
  gauge('thermostream_log_backlog_records', 'Durable records the engine has not taken yet.', () => ingest.stats().backlog);
  gauge('thermostream_storage_ok', '1 while the data dir takes writes; 0 while a full disk holds acknowledgements.', () => (ingest.stats().storage.ok ? 1 : 0));
  gauge('thermostream_held_acks', 'QoS 1 acknowledgements held back: the backlog is over ingest.maxBacklog, or (ack after commit) their batch is not committed yet.', () => ingest.stats().heldAcks);
  gauge('thermostream_watermark_lag_seconds', 'Wall clock minus the watermark (NaN before the first reading).', () => {
    const w = engine.stats().watermark;
    return w === null ? NaN : (clock.now() - w) / 1000;
  });
  gauge('thermostream_input_rate', 'Readings per second over the last 10 batches.', () => engine.stats().inputRate);
  // The batch thread's heap is not in prom-client's nodejs_heap_* (those are the main thread's): as of the last batch.
  const batchMemory = (read: (m: ThreadMemory) => number) => () => {
    const m = engine.stats().lastBatch?.memory;
    return m === undefined ? NaN : read(m);
  };
  gauge('thermostream_batch_thread_heap_used_bytes', 'V8 heap used by the thread that runs the batches (the batch thread, or the main thread with batchThread main), at the last commit.', batchMemory((m) => m.heapUsedBytes));
  gauge('thermostream_batch_thread_heap_total_bytes', 'V8 heap size of the thread that runs the batches, at the last commit.', batchMemory((m) => m.heapTotalBytes));
  gauge('thermostream_batch_thread_array_buffers_bytes', "Array buffers of the thread that runs the batches (the windows' panes, the recent raw readings), at the last commit.", batchMemory((m) => m.arrayBuffersBytes));
  gauge('thermostream_mqtt_connected_clients', 'MQTT clients connected to the embedded broker (0 in external broker mode).', () => broker.connectedClients);
  gauge('thermostream_sse_clients', 'Clients connected to GET /api/v1/stream.', () => hub.clients);

  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const processing = new Histogram({
    name: 'thermostream_batch_processing_seconds',
    help: 'Time from a batch\'s start to its commit.',
    buckets,
    registers: [registry],
  });
  const scheduling = new Histogram({
    name: 'thermostream_batch_scheduling_delay_seconds',
    help: 'How long after its scheduled time a batch started.',
    buckets,
    registers: [registry],
  });
  const off = engine.onBatch(({ info }) => {
    processing.observe(info.processingMs / 1000);
    scheduling.observe(info.schedulingDelayMs / 1000);
  });
  return { registry, close: off };
}

export function metricsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const metrics = createMetrics(deps);
  app.addHook('onClose', async () => metrics.close());
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        tags: ['health'],
        querystring: Type.Object({}, { additionalProperties: false }),
        response: { 200: { description: 'Prometheus text', content: { 'text/plain': { schema: Type.String() } } }, ...badRequest },
      },
    },
    async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
