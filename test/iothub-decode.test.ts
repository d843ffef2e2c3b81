import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, parseEventTopic, type DecodeSink } from '../server/ingest/decode.ts';
import { copyReading, type Reading } from '../server/ingest/reading.ts';

const LIMITS = { maxPayloadBytes: 262_144, maxClockSkewMs: 60_000 };
const ARRIVAL = Date.parse('2026-01-01T00:00:00Z');

function decode(topic: string, payload: string): { accepted: Reading[]; rejected: [string, string, string | null][] } {
  const accepted: Reading[] = [];
  const rejected: [string, string, string | null][] = [];
  const sink: DecodeSink = {
    accept: (r) => accepted.push(copyReading(r)),
    reject: (reason, detail, deviceId) => rejected.push([reason, detail, deviceId]),
  };
  decodeMessage(topic, Buffer.from(payload), ARRIVAL, LIMITS, sink);
  return { accepted, rejected };
}

test('IoT Hub telemetry topics: the property bag gives the message id; JSON in UTF-8 is accepted', () => {
  const bag = '%24.mid=m%201&%24.ct=application%2Fjson%3Bcharset%3Dutf-8&%24.ce=utf-8&room=kitchen';
  assert.deepEqual(decode(`devices/t-1/messages/events/${bag}`, '{"temperature": 21}'), {
    accepted: [{ deviceId: 't-1', ts: ARRIVAL, temperature: 21, humidity: undefined, seq: undefined, messageId: 'm 1', arrival: ARRIVAL, tsFilled: true }],
    rejected: [],
  });
  // Without a property bag, with or without the trailing slash; literal "$.mid" as well as the SDK's "%24.mid".
  assert.equal(decode('devices/t-1/messages/events/', '{"temperature": 21}').accepted[0].messageId, undefined);
  assert.equal(decode('devices/t-1/messages/events', '{"temperature": 21}').accepted.length, 1);
  assert.equal(decode('devices/t-1/messages/events/$.mid=abc', '{"temperature": 21}').accepted[0].messageId, 'abc');
  // A message id over IoT Hub's 255 bytes is not trusted for dedupe.
  assert.equal(decode(`devices/t-1/messages/events/%24.mid=${'x'.repeat(256)}`, '{"temperature": 21}').accepted[0].messageId, undefined);
  // An array: each element gets an id of its own, derived from the message's.
  const array = decode('devices/t-1/messages/events/%24.mid=batch-7', '[{"temperature": 1}, {"temperature": 2}]');
  assert.deepEqual(array.accepted.map((r) => r.messageId), ['batch-7[0]', 'batch-7[1]']);
  // The plain dialect carries none.
  assert.equal(decode('devices/t-1/telemetry', '{"temperature": 21}').accepted[0].messageId, undefined);
});

test('IoT Hub telemetry in another content type or encoding is rejected with a clear reason', () => {
  assert.deepEqual(decode('devices/t-1/messages/events/%24.ct=text%2Fplain', '21').rejected, [
    ['unsupported_content', 'content type ($.ct) "text/plain" is not application/json', 't-1'],
  ]);
  assert.deepEqual(decode('devices/t-1/messages/events/%24.ce=utf-16', '{"temperature": 21}').rejected, [
    ['unsupported_content', 'content encoding ($.ce) "utf-16" is not utf-8', 't-1'],
  ]);
  assert.deepEqual(decode('devices/t-1/messages/events/a=%E0%A4%A', '{"temperature": 21}').rejected, [
    ['bad_topic', 'property "a=%E0%A4%A" is not URL-encoded', 't-1'],
  ]);
  assert.equal(parseEventTopic('devices/t-1/messages/eventsX'), null);
  assert.equal(parseEventTopic('devices/bad id/messages/events/'), null);
  assert.deepEqual(decode('devices/t-1/messages/devicebound/x', '{"temperature": 21}').rejected[0][0], 'bad_topic');
});
