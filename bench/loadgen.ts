/**
 * Load generator, run as a forked child process by bench/harness.ts (never imported by the server's process).
 *
 * N MQTT 3.1.1 connections, one device each, publishing pre-built JSON readings on devices/{id}/telemetry:
 *   {"ts":<epoch ms>,"temperature":..,"humidity":..,"seq":n}
 * QoS 0: everything is written as fast as TCP takes it. QoS 1: at most `window` unacknowledged publishes per
 * connection (a device's bounded window, DESIGN.md), refilled as PUBACKs arrive.
 *
 * client 'raw' (default): every packet of a connection is encoded once, up front, into one contiguous buffer, so
 * sending k publishes is one socket.write of a slice; PUBACKs are parsed by hand (4 bytes each). This costs the
 * generator next to nothing per reading. client 'mqttjs': the mqtt.js client, for comparison.
 *
 * Paced mode (`ratePerSec`): each connection sends its share of the rate, staggered, every 10 ms what is due, with
 * the payload's `ts` stamped at send time (same length, 13 digits); `latency` adds bench/latency-probe.ts.
 *
 * While running it polls the stats URL and reports when the server had accepted and processed everything.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { LatencyProbe } from './latency-probe.ts';
import { now, type ChildMessage, type LoadResult, type LoadSpec, type ParentMessage, type ServerStats } from './protocol.ts';

const spec = JSON.parse(process.argv[2] ?? 'null') as LoadSpec;
if (spec === null || typeof process.send !== 'function') {
  console.error('bench/loadgen.ts is started by the benchmarks (bench/run.ts), not by hand');
  process.exit(2);
}
const send = (m: ChildMessage): void => void process.send!(m);

/** Spread of event time over one connection's readings, so windows see several panes and nothing is late. */
const TS_SPREAD_MS = 5_000;

interface Conn {
  id: string;
  /** Every packet of this connection, back to back. */
  buf: Buffer;
  /** Packet i spans buf[off[i], off[i + 1]); its payload starts at payloadOff[i]. */
  off: Uint32Array;
  payloadOff: Uint32Array;
  total: number;
  next: number;
  acked: number;
  socket: Socket | null;
  client: MqttClient | null;
  rest: Buffer | null;
  done: boolean;
  /** Paced mode: this connection's offset into its send period (0..1). */
  phase: number;
  /** Index among the probed devices, or -1. */
  probe: number;
}

/** The devices a connection publishes for: itself, or with devicesPerConnection > 1 (a gateway) `${id}-${k}`. */
const PER_CONNECTION = spec.devicesPerConnection ?? 1;
const deviceOf = (c: { id: string }, i: number): string => (PER_CONNECTION === 1 ? c.id : `${c.id}-${i % PER_CONNECTION}`);
/** A device's readings are numbered 1, 2, … in the order the connection sends them. */
const seqOf = (i: number): number => Math.floor(i / PER_CONNECTION) + 1;

function buildConn(index: number, total: number, base: number): Conn {
  const id = `${spec.idPrefix}${String(index).padStart(4, '0')}`;
  const topics = Array.from({ length: PER_CONNECTION }, (_, k) => Buffer.from(`devices/${deviceOf({ id }, k)}/telemetry`));
  const qos = spec.qos;
  const off = new Uint32Array(total + 1);
  const payloadOff = new Uint32Array(total);
  let buf = Buffer.allocUnsafe(total * (topics[PER_CONNECTION - 1].length + 110) + 64);
  let p = 0;
  for (let i = 0; i < total; i++) {
    const topic = topics[i % PER_CONNECTION];
    const seq = seqOf(i);
    const ts = base + Math.floor((i * TS_SPREAD_MS) / total);
    const temperature = (18 + ((seq * 7 + index * 13) % 700) / 100).toFixed(2);
    const humidity = (35 + ((seq * 3 + index) % 200) / 10).toFixed(1);
    const payload = `{"ts":${ts},"temperature":${temperature},"humidity":${humidity},"seq":${seq}}`;
    const remaining = 2 + topic.length + (qos > 0 ? 2 : 0) + payload.length;
    if (p + remaining + 5 > buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, p);
      buf = bigger;
    }
    off[i] = p;
    buf[p++] = 0x30 | (qos << 1);
    let r = remaining;
    do {
      let byte = r & 0x7f;
      r >>>= 7;
      if (r > 0) byte |= 0x80;
      buf[p++] = byte;
    } while (r > 0);
    p = buf.writeUInt16BE(topic.length, p);
    p += topic.copy(buf, p);
    if (qos > 0) p = buf.writeUInt16BE((i % 65535) + 1, p);
    payloadOff[i] = p;
    p += buf.write(payload, p, 'latin1');
  }
  off[total] = p;
  return { id, buf: buf.subarray(0, p), off, payloadOff, total, next: 0, acked: 0, socket: null, client: null, rest: null, done: false, phase: 0, probe: -1 };
}

/**
 * Re-stamps every reading's `ts` from `base` (same spread, same 13 digits), so that event time starts when the
 * publishing does: building and connecting can take longer than the allowed lateness on a busy machine, and the
 * server's watermark advances with the clock while no input arrives.
 */
function restamp(c: Conn, base: number): void {
  for (let i = 0; i < c.total; i++) {
    c.buf.write(String(base + Math.floor((i * TS_SPREAD_MS) / c.total)), c.payloadOff[i] + 6, 'latin1');
  }
}

/** Checks the hand-made encoding against mqtt-packet's parser, once. */
function selfCheck(c: Conn): void {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const got: mqttPacket.IPublishPacket[] = [];
  parser.on('packet', (pk) => got.push(pk as mqttPacket.IPublishPacket));
  parser.on('error', (err) => {
    throw err;
  });
  const n = Math.min(3, c.total);
  parser.parse(c.buf.subarray(0, c.off[n]));
  if (got.length !== n) throw new Error(`self-check: parsed ${got.length} of ${n} packets`);
  for (let i = 0; i < n; i++) {
    const pk = got[i];
    const body = JSON.parse(pk.payload.toString());
    if (pk.cmd !== 'publish' || pk.topic !== `devices/${deviceOf(c, i)}/telemetry` || pk.qos !== spec.qos || body.seq !== seqOf(i)) {
      throw new Error(`self-check: packet ${i} decodes as ${JSON.stringify({ ...pk, payload: pk.payload.toString() })}`);
    }
    if (spec.qos > 0 && pk.messageId !== i + 1) throw new Error(`self-check: messageId ${pk.messageId}`);
  }
}

function connectPacket(clientId: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId });
}

const conns: Conn[] = [];
const errors: string[] = [];
let sent = 0;
let acked = 0;
let finishedConns = 0;
let firstPublishAt = NaN;
let lastAckAt = NaN;
let started = false;
let settle: (() => void) | null = null;

function noteError(msg: string): void {
  if (errors.length < 20) errors.push(msg);
}

function connFinished(c: Conn): void {
  if (c.done) return;
  c.done = true;
  finishedConns++;
  if (finishedConns === conns.length) {
    lastAckAt = now();
    settle?.();
  }
}

// ---- raw client ---------------------------------------------------------------------------------------------

function openRaw(c: Conn): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: spec.host, port: spec.mqttPort, noDelay: true });
    c.socket = s;
    let connected = false;
    s.once('error', reject);
    s.on('connect', () => s.write(connectPacket(c.id)));
    s.on('data', (chunk: Buffer) => {
      let b = c.rest === null ? chunk : Buffer.concat([c.rest, chunk]);
      let p = 0;
      let acks = 0;
      for (;;) {
        if (p + 2 > b.length) break;
        const type = b[p] >> 4;
        let len = 0;
        let mul = 1;
        let q = p + 1;
        let complete = false;
        while (q < b.length) {
          const byte = b[q++];
          len += (byte & 0x7f) * mul;
          mul *= 128;
          if ((byte & 0x80) === 0) {
            complete = true;
            break;
          }
        }
        if (!complete || q + len > b.length) break;
        if (type === 4) acks++;
        else if (type === 2) {
          if (b[q + 1] !== 0) return reject(new Error(`${c.id}: CONNACK return code ${b[q + 1]}`));
          connected = true;
          s.off('error', reject);
          s.on('error', (err) => noteError(`${c.id}: ${err.message}`));
          resolve();
        } else noteError(`${c.id}: unexpected packet type ${type}`);
        p = q + len;
      }
      c.rest = p < b.length ? b.subarray(p) : null;
      if (acks > 0) {
        c.acked += acks;
        acked += acks;
        if (c.acked >= c.total) connFinished(c);
        else if (spec.ratePerSec === undefined) pumpRaw(c);
      }
    });
    s.on('close', () => {
      if (!connected) reject(new Error(`${c.id}: closed before CONNACK`));
      else if (!c.done && started) noteError(`${c.id}: connection closed by the server after ${c.acked}/${c.total} acks`);
    });
  });
}

function pumpRaw(c: Conn): void {
  const inflight = c.next - c.acked;
  const k = Math.min(spec.window - inflight, c.total - c.next);
  if (k <= 0) return;
  c.socket!.write(c.buf.subarray(c.off[c.next], c.off[c.next + k]));
  c.next += k;
  sent += k;
}

function startRaw(c: Conn): void {
  if (spec.qos === 1) return pumpRaw(c);
  // QoS 0: hand the whole stream to the socket; TCP flow control paces it.
  c.next = c.total;
  sent += c.total;
  c.socket!.write(c.buf, (err) => {
    if (err) return noteError(`${c.id}: ${err.message}`);
    c.acked = c.total;
    acked += c.total;
    connFinished(c);
  });
}

// ---- paced mode (raw client) --------------------------------------------------------------------------------

let probe: LatencyProbe | null = null;
let pacer: NodeJS.Timeout | null = null;
let lastPublishAt = NaN;

function startPaced(rate: number): void {
  const perConn = rate / conns.length;
  const t0 = now();
  conns.forEach((c, i) => (c.phase = i / conns.length));
  const tick = (): void => {
    const t = now();
    const elapsed = ((t - t0) / 1000) * perConn;
    let pending = 0;
    for (const c of conns) {
      if (c.next >= c.total) continue;
      const due = Math.min(c.total, Math.floor(elapsed - c.phase) + 1);
      let k = due - c.next;
      if (spec.qos === 1) k = Math.min(k, spec.window - (c.next - c.acked));
      if (k > 0) sendPaced(c, k);
      if (c.next < c.total) pending++;
    }
    if (pending === 0) {
      clearInterval(pacer!);
      pacer = null;
      lastPublishAt = now();
    }
  };
  pacer = setInterval(tick, 10);
  tick();
}

/** Stamps `ts` of the next k readings with the current time and writes them. */
function sendPaced(c: Conn, k: number): void {
  const at = now();
  const ts = Math.floor(at);
  const digits = String(ts);
  for (let i = c.next; i < c.next + k; i++) {
    c.buf.write(digits, c.payloadOff[i] + 6, 'latin1'); // {"ts":<13 digits>
    if (c.probe >= 0) probe!.stamp(c.probe, i, ts, at);
  }
  const from = c.next;
  c.next += k;
  sent += k;
  const last = c.next === c.total;
  c.socket!.write(c.buf.subarray(c.off[from], c.off[c.next]), spec.qos === 0 && last ? (err) => {
    if (err) return noteError(`${c.id}: ${err.message}`);
    c.acked = c.total;
    acked += c.total;
    connFinished(c);
  } : undefined);
}

// ---- mqtt.js client -----------------------------------------------------------------------------------------

async function openMqttjs(c: Conn): Promise<void> {
  c.client = await mqtt.connectAsync(`mqtt://${spec.host}:${spec.mqttPort}`, {
    clientId: c.id,
    clean: true,
    keepalive: 0,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  c.client.on('error', (err) => noteError(`${c.id}: ${err.message}`));
}

function pumpMqttjs(c: Conn): void {
  // QoS 0 callbacks fire once written; keep a bounded number pending there too.
  const window = spec.qos === 1 ? spec.window : 1000;
  const topic = `devices/${c.id}/telemetry`;
  const opts = { qos: spec.qos };
  while (c.next - c.acked < window && c.next < c.total) {
    const i = c.next++;
    sent++;
    const payload = c.buf.subarray(c.payloadOff[i], c.off[i + 1]);
    c.client!.publish(topic, payload, opts, (err) => {
      if (err) noteError(`${c.id}: ${err.message}`);
      c.acked++;
      acked++;
      if (c.acked >= c.total) connFinished(c);
      else if (c.next - c.acked <= window / 2) pumpMqttjs(c);
    });
  }
}

// ---- run ----------------------------------------------------------------------------------------------------

async function pollUntilProcessed(): Promise<Omit<LoadResult, 'count' | 'sent' | 'acked' | 'firstPublishAt' | 'lastAckAt' | 'cpuMs' | 'wallMs' | 'errors'>> {
  const deadline = firstPublishAt + spec.timeLimitMs;
  let acceptedAt = NaN;
  let processedAt = NaN;
  let final: ServerStats | null = null;
  let maxBatch: LoadResult['maxBatch'] = null;
  let polls = 0;
  let lastRecords = -1;
  let lastMove = now();
  for (;;) {
    await new Promise((r) => setTimeout(r, spec.pollMs));
    let stats: ServerStats;
    try {
      const res = await fetch(spec.statsUrl);
      stats = (await res.json()) as ServerStats;
    } catch (err) {
      noteError(`stats: ${(err as Error).message}`);
      if (now() > deadline) return { acceptedAt, processedAt, outcome: 'timeout', final, maxBatch, polls };
      continue;
    }
    const t = now();
    polls++;
    final = stats;
    const lb = stats.lastBatch;
    if (lb && lb.records > 0 && (maxBatch === null || lb.processingMs > maxBatch.processingMs)) {
      maxBatch = { records: lb.records, processingMs: lb.processingMs, jobMs: lb.jobMs, commitMs: lb.commitMs };
    }
    if (Number.isNaN(acceptedAt) && stats.accepted >= spec.count) acceptedAt = t;
    if (stats.records >= spec.count && stats.backlog === 0) {
      processedAt = t;
      return { acceptedAt, processedAt, outcome: 'complete', final, maxBatch, polls };
    }
    if (stats.records !== lastRecords) {
      lastRecords = stats.records;
      lastMove = t;
    }
    const allSent = finishedConns === conns.length;
    if (allSent && stats.backlog === 0 && t - lastMove > spec.stallMs) {
      return { acceptedAt, processedAt, outcome: 'stalled', final, maxBatch, polls };
    }
    if (t > deadline) return { acceptedAt, processedAt, outcome: 'timeout', final, maxBatch, polls };
  }
}

async function main(): Promise<void> {
  const t0 = now();
  const base = Date.now();
  const per = Math.floor(spec.count / spec.connections);
  const extra = spec.count % spec.connections;
  for (let i = 0; i < spec.connections; i++) conns.push(buildConn(i, per + (i < extra ? 1 : 0), base));
  selfCheck(conns[0]);
  const paced = spec.ratePerSec !== undefined;
  if (paced && spec.client !== 'raw') throw new Error('paced mode needs the raw client');
  if (PER_CONNECTION > 1 && (spec.client !== 'raw' || spec.latency)) throw new Error('devices per connection > 1 needs the raw client and no latency probe');
  if (!/^\{"ts":\d{13},/.test(conns[0].buf.toString('latin1', conns[0].payloadOff[0], conns[0].payloadOff[0] + 20))) {
    throw new Error('the payload does not start with a 13-digit ts');
  }
  if (spec.latency) {
    const n = Math.min(spec.latency.devices, conns.length);
    for (let i = 0; i < n; i++) conns[i].probe = i;
    probe = new LatencyProbe(conns.slice(0, n).map((c) => c.id), conns.slice(0, n).map((c) => c.total), errors);
    await probe.open(spec.latency.streamUrl);
  }
  const buildMs = now() - t0;
  // Open the connections a few at a time: a burst of hundreds of CONNECTs is not what is measured.
  const batch = spec.connectBatch ?? 20;
  for (let i = 0; i < conns.length; i += batch) {
    await Promise.all(conns.slice(i, i + batch).map((c) => (spec.client === 'raw' ? openRaw(c) : openMqttjs(c))));
  }
  if (!paced) {
    const base = Date.now();
    for (const c of conns) restamp(c, base);
  }
  send({ type: 'ready', buildMs, connectMs: now() - t0 - buildMs });

  await new Promise<void>((resolve) => {
    process.once('message', (m: ParentMessage) => {
      if (m.type === 'go') resolve();
    });
  });
  const cpu0 = process.cpuUsage();
  const allFlushed = new Promise<void>((resolve) => {
    settle = resolve;
  });
  started = true;
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  firstPublishAt = now();
  for (const c of conns) if (c.total === 0) connFinished(c);
  if (paced) startPaced(spec.ratePerSec!);
  else {
    for (const c of conns) {
      if (c.total === 0) continue;
      if (spec.client === 'raw') startRaw(c);
      else pumpMqttjs(c);
    }
  }
  const polled = await pollUntilProcessed();
  loopDelay.disable();
  if (pacer !== null) clearInterval(pacer);
  if (probe !== null) {
    // The last batch's events may still be on their way: wait for them, bounded.
    const until = now() + 5_000;
    while (probe.seen < probe.probed && now() < until) await new Promise((r) => setTimeout(r, 20));
    probe.close();
  }
  if (finishedConns < conns.length) {
    // Timed out or stalled before every publish was acknowledged: report what got through.
    await Promise.race([allFlushed, new Promise((r) => setTimeout(r, 100))]);
  }
  const cpu = process.cpuUsage(cpu0);
  const result: LoadResult = {
    count: spec.count,
    sent,
    acked,
    firstPublishAt,
    lastAckAt,
    ...polled,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: now() - firstPublishAt,
    errors,
    ...(paced ? { pacedRate: sent / Math.max(0.001, ((Number.isFinite(lastPublishAt) ? lastPublishAt : now()) - firstPublishAt) / 1000) } : {}),
    ...(probe !== null ? { latency: { ...probe.result(firstPublishAt + spec.latency!.warmupMs), loopDelay: delays(loopDelay) } } : {}),
  };
  send({ type: 'done', result });

  await new Promise<void>((resolve) => {
    process.on('message', (m: ParentMessage) => {
      if (m.type === 'close') resolve();
    });
  });
  const DISCONNECT = Buffer.from([0xe0, 0x00]);
  await Promise.all(
    conns.map(async (c) => {
      if (c.socket) await new Promise<void>((r) => c.socket!.end(DISCONNECT, () => r()));
      if (c.client) await c.client.endAsync();
    }),
  );
  process.exit(0);
}

main().catch((err) => {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
});

/** An event-loop delay histogram's p50 / p99 / max in ms. */
function delays(h: IntervalHistogram): { p50: number; p99: number; max: number } {
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}
