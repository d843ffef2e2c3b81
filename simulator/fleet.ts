/**
 * createFleet(): the simulator as a library. Drives the source (model + anomalies) at a steady rate, passes readings
 * through the delivery faults and the batcher, and publishes them with a transport, never holding more than a bounded
 * number of messages: when the transport is at its in-flight limit, generation waits (and falls behind schedule,
 * which the achieved rate shows) instead of buffering.
 *
 * Paced runs (with a URL) tick every 10 ms and send what is due. Runs without a URL only write --out and go as fast
 * as the disk allows; their timestamps are the same as a paced run's would be.
 */
import { noAnomalies } from './anomalies.ts';
import { createFaultInjector, type FaultCounts, type Outgoing } from './faults.ts';
import { openLineWriter, type LineWriter } from './files.ts';
import { checkSimulatedTime, resolveOptions, simulatedStartMs, type FleetOptions } from './options.ts';
import { encodeBatch, encodeReading, outLine, type Reading } from './reading.ts';
import { scenarioEvents } from './scenario.ts';
import { createReplaySource } from './replay.ts';
import { createSource, type Source } from './source.ts';
import { transports, type Transport, type TransportStats } from './transport.ts';
import type { Fleet, FleetCounters, FleetDeps, Injected, Progress, Summary } from './fleet-types.ts';

export type { Fleet, FleetCounters, FleetDeps, Injected, Progress, Summary } from './fleet-types.ts';

const TICK_MS = 10;
/** A partial batch is sent once its oldest reading has waited this long (schedule time). */
const BATCH_MAX_AGE_MS = 1000;
const FAST_CHUNK = 10_000;
/** Slack after --duration for readings already due but held back by a momentarily full in-flight window. */
const DEADLINE_GRACE_MS = 50;

interface ReadyMessage {
  deviceId: string;
  body: string;
  topic?: string;
  recordsId?: string;
  /** Valid readings inside. */
  readings: number;
  bad: boolean;
}

/**
 * --replay: what identifies a message's records apart from their content — a record's own messageId, else its line in
 * the file in this run (`run` tells the runs apart: replayed again, the records are sent again, as over MQTT) — since
 * two records alike (21.5 °C twice, undated) are two readings. Undefined for generated readings (their seq identifies
 * them).
 */
function recordsId(readings: readonly Reading[], run: string): string | undefined {
  const first = readings[0];
  const last = readings[readings.length - 1];
  if (first === undefined || last === undefined || first.line === undefined) return undefined;
  const own = first.recorded?.messageId;
  if (readings.length === 1 && typeof own === 'string' && own !== '') return own;
  const lines = readings.length === 1 ? `${first.line}` : `${first.line}-${last.line}`;
  return `${first.deviceId}-${run}-line${lines}`;
}

export function createFleet(input: FleetOptions, deps: FleetDeps = {}): Fleet {
  const o = resolveOptions(input);
  const now = deps.now ?? Date.now;
  checkSimulatedTime(o, now());
  const counters: FleetCounters = { generated: 0, sent: 0, acknowledged: 0, failed: 0, unsent: 0, badSent: 0, messages: 0, errors: 0 };
  const faults = createFaultInjector({
    seed: o.seed,
    deviceIds: o.deviceIds,
    lateFraction: o.lateFraction,
    maxDelayMs: o.maxDelayMs,
    duplicateFraction: o.duplicateFraction,
    badFraction: o.badFraction,
  });
  let source: Source | undefined;
  let onSourceCreated: (s: Source) => void = () => {};
  const sourceCreated = new Promise<Source>((resolve) => (onSourceCreated = resolve));
  let transport: Transport | undefined;
  let stopping = false;
  let running = false;
  let t0 = 0;
  let startedAt = 0;
  /** This run, in the message ids of replayed records without seq. */
  let runTag = '';
  let genEndMs: number | undefined;
  let firstTs: number | undefined;
  let lastTs: number | undefined;
  let wake: (() => void) | undefined;
  /** Resolves at stop(): a fleet still connecting gives up then, not at --connect-timeout. */
  let onStop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (onStop = resolve));

  // Messages ready for the transport (bounded: generation pauses while any wait).
  const ready: ReadyMessage[] = [];
  let readyHead = 0;
  // Per-device partial batches (batch-size > 1), oldest first.
  const batches = new Map<string, { since: number; readings: Reading[] }>();

  const toReady = (item: Outgoing, atMs: number): void => {
    if (item.kind === 'bad') {
      ready.push({ deviceId: item.deviceId, body: item.body as string, topic: item.topic, readings: 0, bad: true });
      return;
    }
    const reading = item.reading as Reading;
    if (o.batchSize === 1) {
      ready.push({ deviceId: reading.deviceId, body: encodeReading(reading), recordsId: recordsId([reading], runTag), readings: 1, bad: false });
      return;
    }
    // A replay keeps the file's order: a batch holds consecutive records of one device.
    if (o.replay !== undefined) for (const id of batches.keys()) if (id !== reading.deviceId) flushBatch(id);
    let batch = batches.get(reading.deviceId);
    if (batch === undefined) {
      batch = { since: atMs, readings: [] };
      batches.set(reading.deviceId, batch);
    }
    batch.readings.push(reading);
    if (batch.readings.length >= o.batchSize) flushBatch(reading.deviceId);
  };

  function flushBatch(deviceId: string): void {
    const batch = batches.get(deviceId);
    if (batch === undefined) return;
    batches.delete(deviceId);
    ready.push({ deviceId, body: encodeBatch(batch.readings), recordsId: recordsId(batch.readings, runTag), readings: batch.readings.length, bad: false });
  }

  function flushOldBatches(atMs: number, all: boolean): void {
    for (const [deviceId, batch] of batches) {
      if (!all && atMs - batch.since < BATCH_MAX_AGE_MS) break;
      flushBatch(deviceId);
    }
  }

  /** Sends ready messages until the transport refuses one; true when none is left waiting. */
  function pump(): boolean {
    while (readyHead < ready.length) {
      const m = ready[readyHead] as ReadyMessage;
      if (transport !== undefined) {
        const accepted = transport.send(m, (error) => {
          if (error) {
            counters.errors++;
            counters.failed += m.readings;
          } else {
            counters.acknowledged += m.readings;
          }
        });
        if (!accepted) break;
        counters.messages++;
        if (m.bad) counters.badSent++;
        counters.sent += m.readings;
      }
      readyHead++;
    }
    if (readyHead === ready.length) {
      ready.length = 0;
      readyHead = 0;
      return true;
    }
    if (readyHead > 4096) {
      ready.splice(0, readyHead);
      readyHead = 0;
    }
    return false;
  }

  let out: LineWriter | undefined;
  let truth: LineWriter | undefined;

  function generateOne(src: Source, atMs: number): void {
    const reading = src.next();
    if (reading === undefined) return;
    counters.generated++;
    if (Number.isFinite(reading.ts)) {
      firstTs ??= reading.ts;
      lastTs = reading.ts;
    }
    out?.write(outLine(reading));
    faults.process(reading, atMs, now(), (item) => toReady(item, atMs));
  }

  let cutShort = false;
  const deadlineMs = o.duration === undefined ? Infinity : o.duration * 1000 + DEADLINE_GRACE_MS;

  function generationDone(src: Source): boolean {
    return stopping || cutShort || src.position >= o.total;
  }

  async function runPaced(src: Source): Promise<void> {
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let stopDeadline: number | undefined;
      const tick = () => {
        timer = undefined;
        const elapsed = now() - t0;
        faults.release(elapsed, (item) => toReady(item, elapsed));
        flushOldBatches(elapsed, false);
        let clear = pump();
        while (clear && !generationDone(src) && src.dueAtMs(src.position) <= elapsed) {
          generateOne(src, src.dueAtMs(src.position));
          clear = pump();
        }
        // --duration is wall-clock time: a fleet that fell behind (broker too slow) stops at the deadline anyway.
        if (!clear && elapsed >= deadlineMs) cutShort = true;
        if (generationDone(src)) {
          genEndMs ??= elapsed;
          if (stopping || cutShort) faults.releaseAll((item) => toReady(item, elapsed));
          if (faults.delayed === 0) flushOldBatches(elapsed, true);
          clear = pump();
          if (clear && faults.delayed === 0 && batches.size === 0) return resolve();
          // Stopped, or past the --duration deadline, while the broker refuses more: give up after the drain
          // timeout, counting what never left (the run then exits non-zero for the lost readings).
          if (stopping || cutShort) {
            stopDeadline ??= now() + o.drainTimeoutMs;
            if (now() >= stopDeadline) {
              for (let i = readyHead; i < ready.length; i++) counters.unsent += (ready[i] as ReadyMessage).readings;
              ready.length = 0;
              readyHead = 0;
              return resolve();
            }
          }
        }
        timer = setTimeout(tick, TICK_MS);
      };
      wake = () => {
        if (timer !== undefined) {
          clearTimeout(timer);
          tick();
        }
      };
      tick();
    });
    wake = undefined;
  }

  /** File-only runs: no pacing; schedule time advances with the slots. */
  async function runFast(src: Source): Promise<void> {
    while (!generationDone(src)) {
      const end = Math.min(o.total, src.position + FAST_CHUNK);
      while (src.position < end) {
        const atMs = src.dueAtMs(src.position);
        faults.release(atMs, (item) => toReady(item, atMs));
        generateOne(src, atMs);
        pump();
      }
      if (out !== undefined) await out.ready();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    genEndMs = now() - t0;
    faults.releaseAll((item) => toReady(item, Infinity));
    flushOldBatches(Infinity, true);
    pump();
  }

  async function drain(): Promise<void> {
    if (transport === undefined) return;
    const deadline = now() + o.drainTimeoutMs;
    while (transport.inFlight > 0 && now() < deadline) {
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
    }
  }

  function injected(): Injected {
    const counts: FaultCounts = faults.counts;
    const anomalies = source?.anomalies ?? noAnomalies();
    return { late: counts.late, duplicate: counts.duplicate, bad: { ...counts.bad }, anomalies: { ...anomalies } };
  }

  function transportStats(): TransportStats {
    return transport?.stats ?? { connected: 0, reconnects: 0, connectionErrors: 0 };
  }

  return {
    options: o,
    deviceIds: o.deviceIds,
    counters,
    progress() {
      const s = transportStats();
      return {
        ...counters,
        elapsedMs: running ? now() - t0 : 0,
        inFlight: transport?.inFlight ?? 0,
        delayed: faults.delayed,
        connected: s.connected,
        reconnects: s.reconnects,
      };
    },
    stop() {
      stopping = true;
      onStop();
      wake?.();
    },
    async run() {
      if (running) throw new Error('fleet is already running');
      running = true;
      startedAt = now();
      runTag = startedAt.toString(36);
      if (o.publishes) {
        const factory = transports[o.transport];
        if (factory === undefined) throw new Error(`unknown transport ${o.transport}`);
        transport = factory({
          url: o.url,
          qos: o.qos,
          deviceIds: o.deviceIds,
          connections: o.connections,
          maxInFlight: o.maxInFlight,
          connectTimeoutMs: o.connectTimeoutMs,
          clientIdPrefix: o.clientIdPrefix,
          username: o.username,
          password: o.password,
          ca: o.ca,
          azure: { connectionStrings: o.connectionStrings, registry: o.registry, apiToken: o.apiToken },
          // Twin setpoints arrive while running: the model holds them from the next slot on.
          // (A setpoint already desired when the device connects waits for the source, created once all are up.)
          onSetpoint: async (deviceId, setpoint) => (source ?? (await sourceCreated)).hold(deviceId, setpoint),
        });
        try {
          const connecting = transport.connect();
          connecting.catch(() => {}); // stopped first: its later failure is moot (the transport is closed below)
          await Promise.race([connecting, stopped]);
        } catch (error) {
          await transport.close();
          running = false;
          throw error;
        }
      }
      try {
        if (o.out !== undefined) out = await openLineWriter('out', o.out);
        if (o.truth !== undefined) truth = await openLineWriter('truth', o.truth);
        t0 = now();
        const paced = transport !== undefined;
        const startMs = simulatedStartMs(o, t0);
        source = o.replay !== undefined ? createReplaySource(o.replay, o.rate) : createSource({
          seed: o.seed,
          deviceIds: o.deviceIds,
          rate: o.rate,
          speedup: o.speedup,
          startMs,
          anomalyRate: o.anomalies,
          anomalyTypes: o.anomalyTypes,
          events: scenarioEvents(o.scenario, o.deviceIds, startMs),
          onTruth: (record) => {
            truth?.write(`${JSON.stringify(record)}\n`);
          },
        });
        onSourceCreated(source);
        if (stopping) genEndMs = 0;
        else if (paced) await runPaced(source);
        else await runFast(source);
        source.finish();
        await drain();
      } finally {
        await transport?.close();
        await out?.close();
        await truth?.close();
      }
      const durationMs = genEndMs ?? now() - t0;
      const lost = counters.sent - counters.acknowledged + counters.unsent;
      return {
        ok: lost === 0 && counters.errors === 0,
        devices: o.deviceIds.length,
        transport: o.transport,
        url: o.url,
        qos: o.qos,
        connections: transport === undefined ? 0 : o.transport === 'azure' ? o.deviceIds.length : Math.min(o.connections, o.deviceIds.length),
        generated: counters.generated,
        sent: counters.sent,
        acknowledged: counters.acknowledged,
        lost,
        errors: counters.errors,
        messages: counters.messages,
        badSent: counters.badSent,
        reconnects: transportStats().reconnects,
        injected: injected(),
        durationMs,
        totalMs: now() - startedAt,
        achievedRate: durationMs > 0 ? (counters.generated * 1000) / durationMs : counters.generated,
        firstTs: firstTs === undefined ? undefined : new Date(firstTs).toISOString(),
        lastTs: lastTs === undefined ? undefined : new Date(lastTs).toISOString(),
      };
    },
  };
}
