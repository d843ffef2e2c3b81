/**
 * The subscriber a user writes by hand next to Mosquitto: one mqtt.js client subscribed to devices/+/telemetry,
 * JSON.parse of every message, the same event-time windows as Thermostream's default (10 s long, sliding by 2 s,
 * per device and fleet-wide) kept in a Map in memory; nothing durable, no dedupe. Forked by bench/mosquitto.ts
 * with { port, qos } as argv[2]; it serves its count as JSON on an ephemeral HTTP port (shaped like
 * GET /api/v1/stats, plus lastReceivedAt) and sends { type: 'ready', statsUrl } once subscribed.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { now } from './protocol.ts';

const arg = JSON.parse(process.argv[2] ?? 'null') as { port: number; qos: 0 | 1 } | null;
if (arg === null || typeof process.send !== 'function') {
  console.error('bench/mosquitto-sub.ts is started by bench/mosquitto.ts, not by hand');
  process.exit(2);
}

const LENGTH_MS = 10_000;
const SLIDE_MS = 2_000;

interface Window {
  count: number;
  sum: number;
  min: number;
  max: number;
  humiditySum: number;
  humidityCount: number;
}

const windows = new Map<string, Window>();
let records = 0;
let bad = 0;
let lastReceivedAt = NaN;

function add(key: string, t: number, h: number | undefined): void {
  let w = windows.get(key);
  if (w === undefined) windows.set(key, (w = { count: 0, sum: 0, min: Infinity, max: -Infinity, humiditySum: 0, humidityCount: 0 }));
  w.count++;
  w.sum += t;
  if (t < w.min) w.min = t;
  if (t > w.max) w.max = t;
  if (h !== undefined) {
    w.humiditySum += h;
    w.humidityCount++;
  }
}

const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${arg.port}`, {
  clientId: `bench-subscriber-${process.pid}`,
  clean: true,
  keepalive: 60,
  reconnectPeriod: 0,
  connectTimeout: 10_000,
});
client.on('message', (topic, payload) => {
  const id = topic.slice(8, topic.length - 10); // devices/{id}/telemetry
  try {
    const r = JSON.parse(payload.toString()) as { ts: number; temperature: number; humidity?: number };
    for (let start = Math.floor(r.ts / SLIDE_MS) * SLIDE_MS; start > r.ts - LENGTH_MS; start -= SLIDE_MS) {
      add(`${id}|${start}`, r.temperature, r.humidity);
      add(`*|${start}`, r.temperature, r.humidity);
    }
    records++;
    lastReceivedAt = now();
  } catch {
    bad++;
  }
});
await client.subscribeAsync('devices/+/telemetry', { qos: arg.qos });

const http = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ records, accepted: records, backlog: 0, lastReceivedAt, rejected: { total: bad, byReason: bad ? { not_json: bad } : {} } }));
});
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
process.send({ type: 'ready', statsUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/` });
process.on('disconnect', () => process.exit(0));
