import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { WebSocket } from 'ws';
import { MAX_PACKETS_BEFORE_CONNACK } from '../server/broker/index.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { getJson, tempDir, waitFor, waitForRecords } from './helpers.ts';

type Transport = 'TCP' | 'WebSocket';

/**
 * A raw connection to the server's MQTT port (TCP) or its /mqtt WebSocket, every packet the server sent it (parsed),
 * and `send`, which writes its bytes in one write (TCP) or one WebSocket message.
 */
async function rawClient(t: TestContext, app: { mqttUrl: string; wsUrl: string | null }, transport: Transport) {
  const received: Packet[] = [];
  const parser = mqttPacket.parser();
  parser.on('packet', (p) => received.push(p));
  if (transport === 'TCP') {
    const socket = tcpConnect(Number(new URL(app.mqttUrl).port), '127.0.0.1');
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    socket.on('data', (b) => parser.parse(b));
    const closed = once(socket, 'close').then(() => {});
    await once(socket, 'connect');
    return { received, closed, send: (b: Buffer) => void socket.write(b) };
  }
  const ws = new WebSocket(app.wsUrl!, 'mqtt');
  t.after(() => ws.terminate());
  ws.on('error', () => {});
  ws.on('message', (b: Buffer) => parser.parse(b));
  const closed = once(ws, 'close').then(() => {});
  await once(ws, 'open');
  return { received, closed, send: (b: Buffer) => ws.send(b) };
}

const connectPacket = (clientId: string): Buffer =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60 });

const reading = (deviceId: string, seq: number, qos: 0 | 1): Buffer =>
  mqttPacket.generate({
    cmd: 'publish', topic: `devices/${deviceId}/telemetry`, payload: JSON.stringify({ temperature: 21, seq }), qos, messageId: seq, dup: false, retain: false,
  });

async function start(t: TestContext) {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t), batchIntervalMs: 100 });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  return { app, lines };
}

for (const transport of ['TCP', 'WebSocket'] as const) {
  test(`over ${transport}, a client that pipelines 300 QoS 1 readings behind its CONNECT in one write gets its CONNACK and every PUBACK (aedes alone closed it past 42)`, async (t) => {
    const { app, lines } = await start(t);
    const { send, received } = await rawClient(t, app, transport);
    const n = 300;
    send(Buffer.concat([connectPacket('pipeliner'), ...Array.from({ length: n }, (_, i) => reading('pipeliner', i + 1, 1))]));
    await waitFor(`${n} PUBACKs`, () => received.length >= n + 1);
    assert.deepEqual({ ...received[0] }, { cmd: 'connack', retain: false, qos: 0, dup: false, length: 2, topic: null, payload: null, sessionPresent: false, returnCode: 0 });
    assert.deepEqual(received.slice(1).map((p) => `${p.cmd} ${(p as { messageId?: number }).messageId}`), Array.from({ length: n }, (_, i) => `puback ${i + 1}`));
    await waitForRecords(app, n);
    const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    assert.equal(stats.records, n);
    assert.equal(stats.security.packetsBeforeConnack, 0);
    assert.deepEqual(lines, []);
  });

  test(`over ${transport}, a client that sends more than ${MAX_PACKETS_BEFORE_CONNACK} packets before its CONNACK is closed, logged once with its id and the limit, and counted`, async (t) => {
    const { app, lines } = await start(t);
    const { send, received, closed } = await rawClient(t, app, transport);
    const n = MAX_PACKETS_BEFORE_CONNACK + 50;
    send(Buffer.concat([connectPacket('flooder'), ...Array.from({ length: n }, (_, i) => reading('flooder', i + 1, 0))]));
    await closed;
    assert.deepEqual(received, []);
    await waitFor('the log line', () => lines.length > 0);
    assert.deepEqual(lines, [`closed client "flooder" from 127.0.0.1: more than ${MAX_PACKETS_BEFORE_CONNACK} packets before its CONNACK`]);
    const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    assert.equal(stats.security.packetsBeforeConnack, 1);
    assert.equal(stats.records, 0);
  });
}

test('a connection closed before its CONNACK for another reason (a PUBLISH before any CONNECT, a protocol version aedes does not speak) is logged with its address and why', async (t) => {
  const { app, lines } = await start(t);
  const early = await rawClient(t, app, 'TCP');
  early.send(reading('early', 1, 0));
  await early.closed;
  const five = await rawClient(t, app, 'TCP');
  five.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'five', clean: true, keepalive: 60 }));
  await waitFor('the refusal', () => lines.length >= 2);
  assert.deepEqual(lines, [
    'closed a connection from 127.0.0.1 before its CONNACK: Invalid protocol',
    'closed a connection from 127.0.0.1 before its CONNACK: unacceptable protocol version',
  ]);
  assert.deepEqual(five.received.map((p) => [p.cmd, (p as { returnCode?: number }).returnCode]), [['connack', 1]]);
  assert.equal((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.packetsBeforeConnack, 0);
});
