/**
 * The broker's telemetry fast path (server/broker/fast-publish.ts), driven byte by byte from a raw socket: packets
 * split across reads anywhere, many in one read, mixed with packets aedes handles, in the order they came.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import mqtt from 'mqtt';
import { startThermostream } from '../server/main.ts';
import { resolveConfig } from '../server/config.ts';
import { getJson, startServer, tempDir, waitFor } from './helpers.ts';

/** One MQTT connection over a plain socket: what was received, parsed; what to send, encoded by mqtt-packet. */
class RawClient {
  readonly received: Packet[] = [];
  closed = false;
  private constructor(readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => this.received.push(p));
    socket.on('data', (b) => parser.parse(b));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async open(t: TestContext, port: number): Promise<RawClient> {
    const socket = tcpConnect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    t.after(() => socket.destroy());
    return new RawClient(socket);
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  /** Writes `bytes` in pieces of 1, 2, 3, … `maxPiece` bytes, letting the server read between them. */
  async trickle(bytes: Buffer, maxPiece: number): Promise<void> {
    for (let at = 0, size = 1; at < bytes.length; at += size, size = (size % maxPiece) + 1) {
      await this.write(bytes.subarray(at, at + size));
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  count(cmd: Packet['cmd']): number {
    return this.received.filter((p) => p.cmd === cmd).length;
  }

  pubackIds(): number[] {
    return this.received.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId);
  }
}

const encode = (packets: object[]): Buffer => Buffer.concat(packets.map((p) => mqttPacket.generate(p as Packet)));
const connectPacket = (clientId: string) => ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 });
const reading = (deviceId: string, seq: number, qos: 0 | 1, extra: object = {}) => ({
  cmd: 'publish',
  topic: `devices/${deviceId}/telemetry`,
  payload: JSON.stringify({ ts: Date.now() - 1000, temperature: 20 + (seq % 10), seq }),
  qos,
  messageId: qos > 0 ? 1 + (seq % 65_000) : undefined,
  retain: false,
  dup: false,
  ...extra,
});
const stats = async (url: string) => (await getJson(`${url}/api/v1/stats`)).body;

test('telemetry in one write and split across reads anywhere: every reading taken once, each QoS 1 PUBACK in order', async (t) => {
  const app = await startServer(t);
  const port = Number(new URL(app.mqttUrl).port);
  const client = await RawClient.open(t, port);
  const sent: ReturnType<typeof reading>[] = [];
  const r = (seq: number, qos: 0 | 1, extra?: object) => {
    const p = reading('fp-1', seq, qos, extra);
    sent.push(p);
    return p;
  };

  // CONNECT and the first readings in one write: those before CONNACK wait in aedes' queue, as before.
  await client.write(encode([connectPacket('fp-1'), r(0, 1), r(1, 0), r(2, 1), { cmd: 'pingreq' }]));
  await waitFor('CONNACK, two PUBACKs, PINGRESP', () => client.count('connack') === 1 && client.count('puback') === 2 && client.count('pingresp') === 1);

  // Then telemetry mixed with what aedes handles (PINGREQ, SUBSCRIBE, a retained reading), trickled 1–13 bytes at a time.
  const mixed: object[] = [];
  for (let seq = 3; seq < 120; seq++) {
    mixed.push(r(seq, seq % 3 === 0 ? 0 : 1));
    if (seq === 40) mixed.push({ cmd: 'subscribe', messageId: 60_001, subscriptions: [{ topic: 'devices/fp-1/messages/devicebound/#', qos: 1 }] });
    if (seq % 25 === 0) mixed.push({ cmd: 'pingreq' });
    if (seq === 70) mixed.push(r(1000, 1, { retain: true }));
  }
  await client.trickle(encode(mixed), 13);
  // And a thousand more in one write: many packets per read.
  const many: object[] = [];
  for (let seq = 120; seq < 1120; seq++) many.push(r(seq, seq % 2 === 0 ? 0 : 1));
  await client.write(encode(many));

  const qos1Ids = sent.filter((p) => p.qos === 1).map((p) => p.messageId);
  await waitFor('every PUBACK', () => client.count('puback') >= qos1Ids.length);
  assert.deepEqual(client.pubackIds(), qos1Ids, 'one PUBACK per QoS 1 reading, in the order sent ([MQTT-4.6.0-2])');
  assert.equal(client.count('suback'), 1);
  assert.equal(client.count('pingresp'), 1 + mixed.filter((p) => (p as Packet).cmd === 'pingreq').length);
  const body = await waitFor('every reading processed', async () => {
    const s = await stats(app.httpUrl);
    return s.records >= sent.length ? s : null;
  });
  assert.equal(body.records, sent.length, 'each reading taken exactly once');
  assert.equal(body.rejected.total, 0);
  assert.equal(client.closed, false);
});

test('MQTT 3.1 clients take the fast path too; a malformed length after CONNACK closes the connection as before', async (t) => {
  const app = await startServer(t);
  const port = Number(new URL(app.mqttUrl).port);

  // MQTT 3.1 ("MQIsdp"): the same PUBLISH layout as 3.1.1.
  const v3 = await mqtt.connectAsync(app.mqttUrl, { protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'fp-v3', reconnectPeriod: 0 });
  t.after(() => v3.endAsync());
  for (let seq = 0; seq < 20; seq++) {
    await v3.publishAsync('devices/fp-v3/telemetry', JSON.stringify({ ts: Date.now() - 1000, temperature: 21, seq }), { qos: seq % 2 === 0 ? 1 : 0 });
  }
  await waitFor('MQTT 3.1 readings processed', async () => (await stats(app.httpUrl)).records >= 20);

  // A malformed remaining length (five length bytes) after CONNACK: aedes' parser refuses it and closes the connection.
  const bad = await RawClient.open(t, port);
  await bad.write(encode([connectPacket('fp-bad'), reading('fp-bad', 0, 1)]));
  await waitFor('CONNACK and PUBACK', () => bad.count('puback') === 1);
  await bad.write(Buffer.from([0x32, 0xff, 0xff, 0xff, 0xff, 0x01]));
  await waitFor('the malformed connection closed', () => bad.closed);

  await waitFor('21 readings processed', async () => (await stats(app.httpUrl)).records >= 21);
  assert.equal((await stats(app.httpUrl)).records, 21);
});

test('QoS 2 on the plain topic is exactly once: retransmissions (DUP, also on a resumed session) are not taken again', async (t) => {
  const app = await startServer(t);
  const port = Number(new URL(app.mqttUrl).port);
  const session = (clientId: string) => ({ ...connectPacket(clientId), clean: false });
  // No ts and no seq: nothing but the packet id can tell a retransmission from a new reading.
  const publish = (id: number, dup: boolean) => ({ ...reading('fp-q2', 0, 1), payload: '{"temperature":21.5}', qos: 2, messageId: id, dup });
  const readings = async () => (await getJson(`${app.httpUrl}/api/v1/devices/fp-q2`)).body.readings as number;

  const first = await RawClient.open(t, port);
  await first.write(encode([session('fp-q2'), publish(11, false), publish(11, true)]));
  await first.write(encode([publish(11, true)]));
  await waitFor('a PUBREC for each receipt', () => first.count('pubrec') === 3);
  // The connection drops before PUBREL; the session resumes on a new one, where the client sends it once more.
  first.socket.destroy();
  const second = await RawClient.open(t, port);
  // As a client does: PUBREL once PUBREC has come.
  const exchange = async (dup: boolean, n: number): Promise<void> => {
    await second.write(encode([publish(11, dup)]));
    await waitFor(`PUBREC ${n}`, () => second.count('pubrec') === n);
    await second.write(encode([{ cmd: 'pubrel', messageId: 11 }]));
    await waitFor(`PUBCOMP ${n}`, () => second.count('pubcomp') === n);
  };
  await second.write(encode([session('fp-q2')]));
  await exchange(true, 1);
  // The same packet id, DUP 0: a new message.
  await exchange(false, 2);
  // Released, the id is free: a DUP 1 under it (its first sending lost on the way) is a new message too.
  await exchange(true, 3);
  await waitFor('three readings processed', async () => (await stats(app.httpUrl)).records >= 3);
  assert.equal(await readings(), 3, 'each message once');
  assert.equal((await stats(app.httpUrl)).records, 3);
});

test('a device connecting during a flood on many connections is answered, and every reading is taken', { timeout: 60_000 }, async (t) => {
  const app = await startServer(t);
  const port = Number(new URL(app.mqttUrl).port);
  const FLOODERS = 20;
  const EACH = 5000;
  const flooders = await Promise.all(Array.from({ length: FLOODERS }, () => RawClient.open(t, port)));
  await Promise.all(flooders.map((f, i) => f.write(encode([connectPacket(`fp-flood-${i}`)]))));
  await waitFor('flooders connected', () => flooders.every((f) => f.count('connack') === 1));
  const floods = flooders.map((f, i) => encode(Array.from({ length: EACH }, (_, seq) => reading(`fp-flood-${i}`, seq, 0))));
  // Every flooder writes at once: more to parse than one turn of the event loop may take, so reads wait their turn.
  for (const [i, f] of flooders.entries()) void f.write(floods[i]).catch(() => {});
  const late = await RawClient.open(t, port);
  await late.write(encode([connectPacket('fp-late'), reading('fp-late', 0, 1)]));
  await waitFor('the late device\'s CONNACK and PUBACK', () => late.count('connack') === 1 && late.count('puback') === 1, 20_000);
  const total = FLOODERS * EACH + 1;
  await waitFor('every reading processed', async () => (await stats(app.httpUrl)).records >= total, 40_000);
  assert.equal((await stats(app.httpUrl)).records, total);
});

test('QoS 0 on the fast path keeps the backpressure: a connection is not read while the backlog is full', { timeout: 90_000 }, async (t) => {
  const MAX_BACKLOG = 2000;
  const TOTAL = 20_000;
  const config = resolveConfig({
    host: '127.0.0.1',
    http: { port: 0 },
    dataDir: tempDir(t),
    batchIntervalMs: 200,
    mqtt: { port: 0, tlsPort: -1 },
    ingest: { maxBacklog: MAX_BACKLOG },
  });
  // Every batch waits 1 s before it runs: the engine is far slower than the publisher.
  const app = await startThermostream(config, { faults: 'slow-batch:1000' });
  t.after(() => app.close());
  const client = await RawClient.open(t, Number(new URL(app.mqttUrl).port));
  await client.write(encode([connectPacket('fp-flood')]));
  await waitFor('CONNACK', () => client.count('connack') === 1);
  const flood: object[] = [];
  for (let seq = 0; seq < TOTAL; seq++) flood.push(reading('fp-flood', seq, 0));
  void client.write(encode(flood)).catch(() => {});

  let maxBacklog = 0;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await stats(app.httpUrl);
    maxBacklog = Math.max(maxBacklog, s.backlog);
    if (s.records >= TOTAL) break;
    assert.ok(Date.now() < deadline, `only ${s.records} of ${TOTAL} processed in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // The backlog passes the bound by at most the packets of one read (64 KB of ≈ 90-byte packets).
  assert.ok(maxBacklog <= MAX_BACKLOG + 1000, `backlog peaked at ${maxBacklog}`);
  assert.ok(maxBacklog > 0);
  assert.equal((await stats(app.httpUrl)).records, TOTAL);
  t.diagnostic(`backlog peak ${maxBacklog}`);
});
