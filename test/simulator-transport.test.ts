import { test } from 'node:test';
import { createServer, type AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import { createFleet, BAD_KINDS, type FleetOptions, type Summary } from '../simulator/index.ts';
import { distinctSeqs, recordingBroker, runSimulator, withTimeout, type Received } from './simulator-helpers.ts';

async function broker(t: { after(fn: () => Promise<void>): void }): Promise<Received> {
  const b = await recordingBroker();
  t.after(() => b.broker.close());
  return b;
}

async function run(t: { after(fn: () => void): void }, options: FleetOptions, timeoutMs = 15_000): Promise<Summary> {
  const fleet = createFleet({ seed: 5, ...options });
  t.after(() => fleet.stop());
  return withTimeout(fleet.run(), timeoutMs, 'fleet run');
}

/** Every device's seqs 1..n arrived (n = what the fleet generated for it). */
function assertEverySeq(received: Received, devices: number, generated: number): void {
  assert.equal(received.seqs.size, devices);
  let total = 0;
  for (const [deviceId, seqs] of received.seqs) {
    const distinct = distinctSeqs(seqs);
    assert.deepEqual(distinct, distinct.map((_, i) => i + 1), `${deviceId} has seq gaps`);
    total += distinct.length;
  }
  assert.equal(total, generated);
}

for (const qos of [0, 1] as const) {
  test(`mqtt QoS ${qos}: one connection per device, the broker gets every seq of every device`, async (t) => {
    const b = await broker(t);
    const s = await run(t, { url: b.broker.url, devices: 20, rate: 2000, count: 4000, qos });
    assert.equal(s.ok, true);
    assert.equal(s.connections, 20);
    assert.equal(s.generated, 4000);
    assert.equal(s.sent, 4000);
    assert.equal(s.acknowledged, 4000);
    assert.equal(s.lost, 0);
    assert.equal(s.errors, 0);
    assert.equal(b.unparsed, 0);
    assert.deepEqual([...b.topics.keys()].sort().slice(0, 2), ['devices/thermostat-0001/telemetry', 'devices/thermostat-0002/telemetry']);
    assertEverySeq(b, 20, 4000);
  });
}

test('mqtt QoS 1, shared connections and batches: arrays of readings, all acknowledged', async (t) => {
  const b = await broker(t);
  const s = await run(t, { url: b.broker.url, devices: 50, connections: 3, rate: 3000, count: 6000, qos: 1, batchSize: 10 });
  assert.equal(s.connections, 3);
  assert.equal(s.acknowledged, 6000);
  assert.equal(s.lost, 0);
  assert.ok(s.messages <= 6000 / 10 + 50, `${s.messages} messages`);
  assert.equal(b.packets, s.messages);
  assertEverySeq(b, 50, 6000);
});

test('QoS 1 readings are resent after a dropped connection until acknowledged', async (t) => {
  const b = await broker(t);
  let held = 0;
  let dropped = false;
  // At one connection's 200th reading, withhold the acknowledgement (aedes then stalls that client, so the simulator's
  // in-flight window fills with unacknowledged readings), and cut the connection 200 ms later.
  b.hook = (clientId) => {
    if (clientId !== 'thermostat-0001' || dropped) return true;
    if (++held < 200) return true;
    if (held === 200) {
      setTimeout(() => {
        dropped = true;
        b.clients.get(clientId)?.close();
      }, 200);
    }
    return false;
  };
  const s = await run(t, { url: b.broker.url, devices: 2, rate: 1000, count: 2000, qos: 1 }, 20_000);
  assert.equal(dropped, true);
  assert.ok(s.reconnects >= 1, `${s.reconnects} reconnects`);
  assert.equal(s.acknowledged, s.sent);
  assert.equal(s.lost, 0);
  assertEverySeq(b, 2, 2000);
});

test('QoS 1 readings published while a reconnected client resends its unacknowledged ones survive a second drop', async (t) => {
  const b = await broker(t);
  let phase = 0; // 0: acknowledging, then withholding; 1: reconnected, withholding its resends; 2: acknowledging again
  let held = 0;
  let reconnected = false;
  b.broker.aedes.on('client', (client: { id: string }) => {
    if (client.id === 'thermostat-0001' && phase === 1) reconnected = true;
  });
  // mqtt.js resends its stored readings one at a time after a reconnect, each waiting for its acknowledgement, and
  // queues what is published meanwhile; a connection lost then (a server killed again while devices catch up) failed
  // the queued publishes with 'Connection closed', and the simulator counted them lost instead of sending them again.
  b.hook = (clientId) => {
    if (clientId !== 'thermostat-0001' || phase === 2) return true;
    if (phase === 0 && ++held < 50) return true;
    if (phase === 0 && held === 50) {
      setTimeout(() => {
        phase = 1;
        held = 0;
        b.clients.get(clientId)?.close();
      }, 20);
    }
    if (phase === 1 && reconnected && ++held === 1) {
      setTimeout(() => {
        phase = 2;
        b.clients.get(clientId)?.close();
      }, 300);
    }
    return false;
  };
  // Slow enough that the in-flight limit (200) is not reached while the device is disconnected: it goes on publishing.
  const s = await run(t, { url: b.broker.url, devices: 2, rate: 200, count: 800, qos: 1 }, 30_000);
  assert.equal(phase, 2);
  assert.ok(s.reconnects >= 2, `${s.reconnects} reconnects`);
  assert.equal(s.errors, 0);
  assert.equal(s.lost, 0);
  assert.equal(s.acknowledged, 800);
  assertEverySeq(b, 2, 800);
});

test('delivery faults are injected and counted: duplicates, late readings, every bad kind', async (t) => {
  const b = await broker(t);
  const s = await run(t, {
    url: b.broker.url,
    devices: 5,
    rate: 2000,
    count: 3000,
    qos: 1,
    duplicateFraction: 0.05,
    lateFraction: 0.05,
    maxDelay: 0.5,
    badFraction: 0.02,
  });
  assert.equal(s.lost, 0);
  assert.ok(s.injected.duplicate > 50 && s.injected.late > 50, JSON.stringify(s.injected));
  assert.equal(s.sent, s.generated + s.injected.duplicate);
  for (const kind of BAD_KINDS) assert.ok(s.injected.bad[kind] >= 1, `${kind} not injected`);
  const badTotal = Object.values(s.injected.bad).reduce((a, c) => a + c, 0);
  assert.equal(s.badSent, badTotal);
  assert.equal(b.unparsed, badTotal, 'every malformed message fails to parse as telemetry');
  assert.ok([...b.topics.keys()].some((topic) => topic.startsWith('thermostats/')), 'no message on a topic outside the scheme');
  assertEverySeq(b, 5, 3000);
  // Late readings arrive out of order.
  const seqs = b.seqs.get('thermostat-0001') ?? [];
  assert.ok(seqs.some((seq, i) => i > 0 && seq < (seqs[i - 1] as number)), 'no reading arrived out of order');
});

test('createFleet runs until stop() when neither count nor duration is given', async (t) => {
  const b = await broker(t);
  const fleet = createFleet({ url: b.broker.url, devices: 20, rate: 40, seed: 1 });
  t.after(() => fleet.stop());
  const running = fleet.run();
  await withTimeout(
    new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (fleet.counters.acknowledged >= 20) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    }),
    10_000,
    'first readings',
  );
  fleet.stop();
  const s = await withTimeout(running, 10_000, 'stopped fleet');
  assert.ok(s.generated >= 20);
  assert.equal(s.lost, 0);
  // Live time: readings are stamped around now, never in the future.
  assert.ok(Date.parse(s.lastTs!) <= Date.now());
  assert.ok(Date.now() - Date.parse(s.firstTs!) < 60_000);
});

test('stop() while the fleet is still connecting (a broker that refuses) ends the run at once with its summary, not after --connect-timeout', async (t) => {
  const closed = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port)); // nothing listens there any more: every connect is refused
    });
  });
  const fleet = createFleet({ url: `mqtt://127.0.0.1:${closed}`, devices: 2, rate: 10, seed: 1, connectTimeout: 30 });
  t.after(() => fleet.stop());
  const running = fleet.run();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stoppedAt = Date.now();
  fleet.stop();
  const s = await withTimeout(running, 5_000, 'the fleet stopped while connecting');
  assert.ok(Date.now() - stoppedAt < 3_000, `stopped after ${Date.now() - stoppedAt} ms`);
  assert.deepEqual([s.generated, s.sent, s.lost], [0, 0, 0]);
});

test('a run whose readings the broker never acknowledges ends after --drain-timeout: the CLI exits (code 1), its connections closed', async (t) => {
  const b = await broker(t);
  b.hook = () => false; // no PUBACK, ever: every reading stays in flight
  // mqtt.js's end(true) after a pending graceful end(false) did nothing: the connections stayed open and the CLI hung
  // after printing its summary (found in an operator walkthrough: a server killed and restarted during the drain).
  const r = await runSimulator(['--url', b.broker.url, '--devices', '2', '--rate', '200', '--count', '20', '--drain-timeout', '0.3'], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, `exit code ${r.code} (null: killed after 20 s, still running)\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /acknowledged\s+0\n/);
  assert.match(r.stdout, /lost\s+20\n/);
});
