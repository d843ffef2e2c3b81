import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { CommitWaiters } from '../server/ingest/commit-waiters.ts';
import { externalBrokerName, startExternalBroker } from './external-broker.ts';
import { getJson, startServer, waitFor } from './helpers.ts';

test('commit waiters: released in arrival order once a checkpoint covers their offset; at once when nothing waits and it is covered', () => {
  const calls: string[] = [];
  const w = new CommitWaiters(10);
  w.add(10, () => calls.push('covered'));
  assert.deepEqual(calls, ['covered']);
  w.add(12, () => calls.push('a@12'));
  w.add(12, () => calls.push('b@12'));
  w.add(10, () => calls.push('foreign@10')); // behind a:12 in the FIFO: PUBACKs leave in order
  w.add(15, () => calls.push('c@15'));
  assert.equal(w.size, 4);
  w.release(11);
  assert.deepEqual(calls, ['covered']);
  w.release(12);
  assert.deepEqual(calls, ['covered', 'a@12', 'b@12', 'foreign@10']);
  w.release(20);
  assert.deepEqual(calls, ['covered', 'a@12', 'b@12', 'foreign@10', 'c@15']);
  assert.equal(w.size, 0);
  w.add(18, () => calls.push('old'));
  assert.equal(calls.at(-1), 'old');
});

test(`ack after commit (${externalBrokerName()}): every QoS 1 message accepted and not yet processed holds its PUBACK`, async (t) => {
  const broker = await startExternalBroker(t);
  const app = await startServer(t, { batchIntervalMs: 500, broker: { url: broker.url, clientId: 'held-acks', ackAfterCommit: true } });
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  for (let i = 1; i <= 200; i++) await pub.publishAsync('devices/held-1/telemetry', JSON.stringify({ temperature: 20, seq: i }), { qos: 1 });
  const seen: number[] = [];
  await waitFor('all 200 processed', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
    // One snapshot: the acknowledgements held are exactly the accepted readings the engine has not committed yet.
    assert.equal(body.heldAcks, body.accepted - body.records, JSON.stringify(body));
    seen.push(body.heldAcks);
    return body.records === 200;
  });
  const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
  assert.equal(body.heldAcks, 0);
  assert.equal(body.duplicates, 0);
});
