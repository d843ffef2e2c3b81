import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import { test } from 'node:test';
import type { Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { limitPacketSize } from '../server/broker/packet-limit.ts';
import { connect, getJson, startServer, waitFor, waitForRecords } from './helpers.ts';

test('each kind of bad input is rejected with its reason, counted and dead-lettered; good readings still flow', async (t) => {
  const app = await startServer(t, { ingest: { maxPayloadBytes: 1024, maxClockSkewMs: 60_000 } });
  const client = await connect(t, app.mqttUrl);
  const now = Date.now();
  const good = (seq: number) => JSON.stringify({ ts: now, temperature: 20 + seq, seq });

  // [topic, payload, expected reason]
  const bad: [string, string, string][] = [
    ['devices/d1/telemetry', 'not json at all', 'not_json'],
    ['devices/d1/telemetry', '{"humidity": 40}', 'missing_temperature'],
    ['devices/d1/telemetry', '{"temperature": null}', 'non_finite_temperature'],
    ['devices/d1/telemetry', '{"temperature": "NaN"}', 'non_finite_temperature'],
    ['devices/d1/telemetry', '{"temperature": 1e999}', 'non_finite_temperature'],
    ['devices/d1/telemetry', '{"temperature": 1e200}', 'out_of_range'],
    ['devices/d1/telemetry', '{"temperature": 21, "humidity": 140}', 'out_of_range'],
    ['devices/d1/telemetry', '{"temperature": 21, "ts": 1e300}', 'bad_timestamp'],
    ['devices/d1/telemetry', '{"temperature": "21.5"}', 'wrong_type'],
    ['devices/d1/telemetry', '{"temperature": 21, "humidity": "high"}', 'wrong_type'],
    ['devices/d1/telemetry', '{"temperature": 21, "seq": -1}', 'wrong_type'],
    ['devices/d1/telemetry', '{"temperature": 21, "messageId": 7}', 'wrong_type'],
    ['devices/d1/telemetry', '42', 'not_object'],
    ['devices/d1/telemetry', `{"temperature": 21, "ts": ${now + 3_600_000}}`, 'future_timestamp'],
    ['devices/d1/telemetry', '{"temperature": 21, "ts": "yesterday"}', 'bad_timestamp'],
    ['devices/d1/telemetry', '{"temperature": 21, "ts": "2026-02-30T00:00:00Z"}', 'bad_timestamp'], // no such day (Date.parse: 2 March)
    ['devices/d1/telemetry', '[]', 'not_object'], // no reading in it
    ['devices/d1/telemetry', '', 'not_json'], // an empty payload (mosquitto_pub -l sends one for an empty line)
    ['devices/d1/telemetry', '\uFEFF{"temperature": 21}', 'not_json'], // a byte order mark
    ['devices/d1/telemetry', '   ', 'not_json'], // white space only
    ['devices/d1/telemetry', `{"temperature": 21, "ts": ${Math.floor(now / 1000)}}`, 'bad_timestamp'], // epoch seconds, not ms
    ['devices/d1/telemetry', '{"temperature": 21, "deviceId": "d2"}', 'device_mismatch'],
    ['devices/d1/telemetry', JSON.stringify({ temperature: 21, pad: 'x'.repeat(2000) }), 'payload_too_large'],
    ['devices/d1/status', '{"temperature": 21}', 'bad_topic'],
    ['sensors/d1', '{"temperature": 21}', 'bad_topic'],
    ['devices/bad id!/telemetry', '{"temperature": 21}', 'bad_topic'],
    ['devices/küche/messages/events/', '{"temperature": 21}', 'bad_topic'],
  ];
  let seq = 0;
  for (const [topic, payload] of bad) {
    await client.publishAsync(topic, payload, { qos: 1 });
    await client.publishAsync('devices/d1/telemetry', good(++seq), { qos: 1 });
  }
  // One message with good and bad elements: the good ones are kept, the bad ones make one dead letter.
  const mixed = `[${good(++seq)}, {"temperature": "hot"}, ${good(++seq)}, {"humidity": 3}]`;
  await client.publishAsync('devices/d1/telemetry', mixed, { qos: 1 });
  // A resent seq is a duplicate: dropped and counted, not dead-lettered.
  await client.publishAsync('devices/d1/telemetry', good(1), { qos: 1 });
  await waitForRecords(app, seq);

  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  const expected: Record<string, number> = { wrong_type: 1 }; // the array's bad element
  for (const [, , reason] of bad) expected[reason] = (expected[reason] ?? 0) + 1;
  assert.deepEqual(stats.rejected, { total: bad.length + 1, byReason: expected });
  assert.equal(stats.accepted, seq + 1, 'the duplicate was accepted at the MQTT level, then dropped');
  assert.equal(stats.records, seq);
  assert.equal(stats.duplicates, 1);

  const letters = (await getJson(`${app.httpUrl}/api/v1/dead-letters?limit=100`)).body.items.reverse();
  assert.equal(letters.length, bad.length + 1);
  for (let i = 0; i < bad.length; i++) {
    const [topic, payload, reason] = bad[i];
    assert.equal(letters[i].reason, reason, `dead letter ${i}`);
    assert.equal(letters[i].topic, topic);
    assert.equal(letters[i].payloadBytes, Buffer.byteLength(payload));
    assert.equal(letters[i].payload, payload.slice(0, 2048));
    assert.equal(typeof letters[i].detail, 'string');
    assert.equal(letters[i].deviceId, reason === 'bad_topic' ? null : 'd1');
  }
  assert.equal(letters.at(-1).reason, 'wrong_type');
  assert.equal(letters.at(-1).detail, '2 of 4 elements rejected: [1] "temperature" must be a number, got "hot"; [3] "temperature" is missing');

  assert.deepEqual(
    letters.filter((l: { payload: string }) => l.payload.trim() === '' || l.payload.startsWith('\uFEFF')).map((l: { detail: string }) => l.detail),
    ['an empty payload: no reading in it', 'the payload starts with a UTF-8 byte order mark (EF BB BF): send the JSON without it', 'a payload of only white space: no reading in it'],
  );
  const seconds = letters.find((l: { payload: string }) => l.payload.endsWith(`${Math.floor(now / 1000)}}`));
  const ms = Math.floor(now / 1000) * 1000;
  assert.equal(seconds.detail, `"ts" ${ms / 1000} looks like epoch seconds (${new Date(ms).toISOString()}): send epoch milliseconds (${ms}) or ISO 8601`);

  // A topic of the scheme's shape names the device id that is wrong; another topic, the scheme.
  assert.deepEqual(letters.filter((l: { reason: string }) => l.reason === 'bad_topic').map((l: { detail: string }) => l.detail), [
    'topic "devices/d1/status" is not devices/{deviceId}/telemetry or devices/{deviceId}/messages/events/{properties}',
    'topic "sensors/d1" is not devices/{deviceId}/telemetry or devices/{deviceId}/messages/events/{properties}',
    'device id "bad id!" in topic "devices/bad id!/telemetry" does not match [A-Za-z0-9._:-]{1,128}',
    'device id "küche" in topic "devices/küche/messages/events/" does not match [A-Za-z0-9._:-]{1,128}',
  ]);
  // Counted by device: a topic that names no valid device is no device (the dashboard lists these as devices).
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/dead-letters/devices`)).body.items.map((d: { deviceId: string }) => d.deviceId), ['d1']);

  const byReason = (await getJson(`${app.httpUrl}/api/v1/dead-letters?reason=device_mismatch`)).body.items;
  assert.equal(byReason.length, 1);
  assert.match(byReason[0].detail, /"d2" differs from the topic's "d1"/);

  // Every good reading reached its window.
  const windows = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=d1`)).body.items;
  assert.ok(windows.length > 0);
  assert.equal(Math.max(...windows.map((w: any) => w.count)), seq);
});

test('a payload that is not UTF-8 is dead-lettered as not_json, though the reading in it would parse; its bytes come back in base64', async (t) => {
  const app = await startServer(t, { ingest: { deadLetterPayloadChars: 64 } });
  const client = await connect(t, app.mqttUrl);
  const reading = (note: Buffer) => Buffer.concat([Buffer.from(`{"ts": ${Date.now()}, "temperature": 21.5, "note": "`), note, Buffer.from('"}')]);
  const latin1 = reading(Buffer.from([0xff, 0xfe])); // 56 bytes: kept whole
  const binary = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37 + 0x80) & 0xff)); // kept: its first 64 bytes
  const cutText = Buffer.from(`${'x'.repeat(62)}€y`); // valid UTF-8 whose € (3 bytes) the limit cuts after 2
  const text = Buffer.from('not json ✓');
  for (const payload of [latin1, binary, cutText, text]) await client.publishAsync('devices/d1/telemetry', payload, { qos: 1 });
  await client.publishAsync('devices/d1/telemetry', reading(Buffer.from('café')), { qos: 1 }); // UTF-8: accepted
  await waitForRecords(app, 1);
  const letters = (await getJson(`${app.httpUrl}/api/v1/dead-letters`)).body.items.reverse();
  assert.deepEqual(
    letters.map((l: any) => [l.reason, l.detail, l.deviceId, l.payloadBytes]),
    [
      ['not_json', 'the payload is not valid UTF-8', 'd1', latin1.length],
      ['not_json', 'the payload is not valid UTF-8', 'd1', 100],
      ['not_json', letters[2].detail, 'd1', 66],
      ['not_json', letters[3].detail, 'd1', text.length],
    ],
  );
  assert.deepEqual(
    letters.map((l: any) => [l.payloadEncoding, l.payload]),
    [
      ['base64', latin1.toString('base64')],
      ['base64', binary.subarray(0, 64).toString('base64')],
      ['utf8', 'x'.repeat(62)], // the cut character is left out, not shown as U+FFFD
      ['utf8', 'not json ✓'],
    ],
  );
  assert.deepEqual(Buffer.from(letters[0].payload, 'base64'), latin1, 'every byte as the device sent it');
});

test('the packet limit reads fixed headers across reads: split anywhere, packets at the limit pass, one byte over is refused', () => {
  // Three packets of 300 bytes (a remaining length of 297 takes 2 bytes), then one of 301, cut into reads of every size.
  const packet = (bytes: number) => {
    const rest = bytes - 3;
    return Buffer.concat([Buffer.from([0x30, (rest & 127) | 128, rest >> 7]), Buffer.alloc(rest)]);
  };
  const stream = Buffer.concat([packet(300), packet(300), packet(300), packet(301)]);
  for (let size = 1; size <= stream.length; size += size < 8 ? 1 : 97) {
    const parsed: number[] = [];
    const refused: number[] = [];
    const client = { _parser: { parse: (b: Buffer) => parsed.push(b.length) } } as unknown as Client;
    assert.equal(limitPacketSize(client, 300, (bytes) => refused.push(bytes)), true);
    const parse = (client as unknown as { _parser: { parse(b: Buffer): void } })._parser.parse;
    for (let at = 0; at < stream.length; at += size) parse(stream.subarray(at, at + size));
    assert.deepEqual(refused, [301], `reads of ${size}`);
    // Every read before the one that completes the fourth packet's header (its byte 902) went on, and of that read
    // the packets before the fourth (to byte 900); nothing after it.
    assert.equal(parsed.reduce((a, b) => a + b, 0), Math.max(Math.floor(902 / size) * size, 900), `reads of ${size}`);
  }
});

test('the packets before an oversized one in the same read are taken; the connection closes at the oversized one', async (t) => {
  const app = await startServer(t, { mqtt: { maxPacketBytes: 1000 } });
  const raw = tcpConnect(Number(new URL(app.mqttUrl).port), '127.0.0.1');
  t.after(() => raw.destroy());
  await once(raw, 'connect');
  raw.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'mixed', clean: true, keepalive: 60 }));
  await once(raw, 'data'); // CONNACK
  const closed = closedSoon(raw);
  const readings = Array.from({ length: 5 }, (_, i) =>
    mqttPacket.generate({ cmd: 'publish', topic: 'devices/mixed/telemetry', payload: JSON.stringify({ temperature: 20 + i, seq: i + 1 }), qos: 0, dup: false, retain: false }));
  // One write: five readings, then the header of a 64 KB publish (over the limit of 1,000 bytes).
  raw.write(Buffer.concat([...readings, Buffer.from([0x30, 0x80, 0x80, 0x04])]));
  await closed;
  await waitForRecords(app, 5);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.equal(stats.security.oversizedPackets, 1);
});

/** Resolves when `emitter` emits 'close'; fails after 5 s. */
const closedSoon = (emitter: { once(event: 'close', listener: () => void): unknown }): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the connection was not closed within 5 s')), 5000);
    emitter.once('close', () => (clearTimeout(timer), resolve()));
  });

for (const forwardTelemetry of [false, true]) {
  const path = forwardTelemetry ? 'aedes\' own path (mqtt.forwardTelemetry)' : 'the telemetry fast path';
  test(`a packet over mqtt.maxPacketBytes closes its connection at its header, as Mosquitto does; the server and other devices go on: ${path}`, async (t) => {
    // Default limit: ingest.maxPayloadBytes + 65,536 = 66,560 bytes.
    const app = await startServer(t, { ingest: { maxPayloadBytes: 1024 }, mqtt: { forwardTelemetry } });
    const good = await connect(t, app.mqttUrl);
    const reading = (seq: number) => JSON.stringify({ ts: Date.now(), temperature: 21, seq });
    await good.publishAsync('devices/good/telemetry', reading(1), { qos: 1 });

    // A device that sends 100 KB in one PUBLISH: closed.
    const big = await connect(t, app.mqttUrl);
    const closed = closedSoon(big);
    big.publish('devices/big/telemetry', Buffer.alloc(100_000, 0x20), { qos: 0 });
    await closed;

    // A connection whose first packet announces 100 MB and sends none of it: closed at once, nothing buffered.
    const raw = tcpConnect(Number(new URL(app.mqttUrl).port), '127.0.0.1');
    t.after(() => raw.destroy());
    await once(raw, 'connect');
    const rawClosed = closedSoon(raw);
    raw.write(Buffer.from([0x10, 0x80, 0xc2, 0xd7, 0x2f])); // CONNECT, remaining length 100,000,000
    await rawClosed;

    // Over ingest.maxPayloadBytes but within the packet limit: dead-lettered, the connection kept.
    await good.publishAsync('devices/good/telemetry', JSON.stringify({ temperature: 21, pad: 'x'.repeat(2000) }), { qos: 1 });
    await good.publishAsync('devices/good/telemetry', reading(2), { qos: 1 });
    await waitForRecords(app, 2);
    assert.equal(good.connected, true);
    const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    assert.equal(stats.security.oversizedPackets, 2);
    assert.deepEqual(stats.rejected, { total: 1, byReason: { payload_too_large: 1 } });
    // And new devices still connect.
    const later = await connect(t, app.mqttUrl);
    await later.publishAsync('devices/later/telemetry', reading(1), { qos: 1 });
    await waitFor('the later reading', async () => (await getJson(`${app.httpUrl}/api/v1/devices`)).body.items.some((d: { deviceId: string }) => d.deviceId === 'later'));
  });
}

test('over WebSocket, mqtt.maxPacketBytes is the limit as over TCP: a larger packet closes its connection and is counted, a smaller one passes', { timeout: 20_000 }, async (t) => {
  // A packet limit above the default (ingest.maxPayloadBytes + 65,536 = 66,560): 100 KB packets pass, 300 KB do not.
  const app = await startServer(t, { ingest: { maxPayloadBytes: 1024 }, mqtt: { maxPacketBytes: 200_000 } });
  const good = await connect(t, app.wsUrl!);
  // Within the packet limit, over ingest.maxPayloadBytes: dead-lettered, the connection kept.
  await good.publishAsync('devices/ws-good/telemetry', Buffer.alloc(100_000, 0x20), { qos: 1 });
  await good.publishAsync('devices/ws-good/telemetry', JSON.stringify({ ts: Date.now(), temperature: 21, seq: 1 }), { qos: 1 });
  await waitForRecords(app, 1);
  assert.equal(good.connected, true);

  // mqtt.js writes a packet's header and its payload as separate WebSocket messages.
  const big = await connect(t, app.wsUrl!);
  const closed = closedSoon(big);
  big.publish('devices/ws-big/telemetry', Buffer.alloc(300_000, 0x20), { qos: 0 });
  await closed;

  // A whole packet in one WebSocket message.
  const raw = new WebSocket(app.wsUrl!, 'mqtt');
  t.after(() => raw.terminate());
  raw.on('error', () => {});
  await once(raw, 'open');
  raw.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'ws-raw', clean: true, keepalive: 60 }));
  await once(raw, 'message'); // CONNACK
  const rawClosed = closedSoon(raw);
  raw.send(mqttPacket.generate({ cmd: 'publish', topic: 'devices/ws-raw/telemetry', payload: Buffer.alloc(300_000, 0x20), qos: 0, dup: false, retain: false }));
  await rawClosed;

  assert.equal(good.connected, true);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.equal(stats.security.oversizedPackets, 2);
  assert.deepEqual(stats.rejected, { total: 1, byReason: { payload_too_large: 1 } });
});

test('over WebSocket, a message holding many packets each within mqtt.maxPacketBytes is taken whole (a browser\'s mqtt.js sends its queued writes as one); one past twice the limit and 1 MiB is refused', { timeout: 20_000 }, async (t) => {
  const app = await startServer(t, { mqtt: { maxPacketBytes: 4096 } });
  const raw = new WebSocket(app.wsUrl!, 'mqtt');
  t.after(() => raw.terminate());
  raw.on('error', () => {});
  await once(raw, 'open');
  raw.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'ws-batched', clean: true, keepalive: 60 }));
  await once(raw, 'message'); // CONNACK (a browser's mqtt.js waits for it too)
  const ts = Date.now();
  const packets: Buffer[] = [];
  for (let seq = 1; seq <= 60; seq++) {
    const payload = JSON.stringify({ ts, temperature: 21, seq, note: 'x'.repeat(40) });
    packets.push(mqttPacket.generate({ cmd: 'publish', topic: 'devices/ws-batched/telemetry', payload, qos: 0, dup: false, retain: false }));
  }
  const message = Buffer.concat(packets);
  assert.ok(message.length > 4096, `${message.length} bytes in one message`);
  raw.send(message);
  await waitForRecords(app, 60);
  assert.equal(raw.readyState, WebSocket.OPEN);

  const huge = new WebSocket(app.wsUrl!, 'mqtt');
  t.after(() => huge.terminate());
  huge.on('error', () => {});
  await once(huge, 'open');
  const hugeClosed = closedSoon(huge);
  huge.send(Buffer.alloc((1 << 20) + 1, 0x30));
  await hugeClosed;
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.equal(stats.security.oversizedPackets, 1);
  assert.equal(stats.records, 60);
});

test('over WebSocket, a packet over a lower mqtt.maxPacketBytes closes its connection and is counted', { timeout: 20_000 }, async (t) => {
  const app = await startServer(t, { mqtt: { maxPacketBytes: 1000 } });
  const big = await connect(t, app.wsUrl!);
  const closed = closedSoon(big);
  big.publish('devices/ws-big/telemetry', Buffer.alloc(2000, 0x20), { qos: 0 });
  await closed;
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.equal(stats.security.oversizedPackets, 1);
});
