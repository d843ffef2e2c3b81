/**
 * External broker mode (server/broker/external.ts): how fast Thermostream drains its persistent session at a real
 * Mosquitto, against what MQTT.js' own client would allow with the PUBACK held for a durable write.
 *
 *   npm run bench -- external [--messages N] [--mosquitto PATH]
 *
 * N QoS 1 readings are queued at Mosquitto for the subscriber's session while it is away; then the subscriber
 * starts and the time until all are processed (Thermostream: counted in the engine's stats) is measured, so the
 * figure is the subscriber's, not the publisher's. The MQTT.js comparison holds each PUBACK (handleMessage; its
 * customHandleAcks is for MQTT 5 only) for an fdatasync of an append, as a durable log needs; MQTT.js takes the next
 * message only after that PUBACK.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, fdatasync, mkdtempSync, openSync, rmSync, write, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { freePort } from './mosquitto.ts';

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Queues `n` QoS 1 readings for client `clientId`'s session (subscribed, then away). */
async function queue(url: string, clientId: string, n: number): Promise<void> {
  const sub = await mqtt.connectAsync(url, { clientId, clean: false });
  await sub.subscribeAsync('devices/+/telemetry', { qos: 1 });
  await sub.endAsync();
  const pub = await mqtt.connectAsync(url, { clean: true });
  const ts = Date.now() - 1000;
  const batch = 500;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, j) =>
        pub.publishAsync(`devices/b${(i + j) % 100}/telemetry`, `{"ts":${ts},"temperature":21.5,"seq":${i + j}}`, { qos: 1 }),
      ),
    );
  }
  await pub.endAsync();
}

export async function main(args: string[]): Promise<number> {
  const n = Number(option(args, '--messages', '100000'));
  const mosquitto = option(args, '--mosquitto', '/usr/sbin/mosquitto');
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-bench-ext-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  writeFileSync(
    join(dir, 'mosquitto.conf'),
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\nmax_queued_messages 10000000\n`,
  );
  const broker = spawn(mosquitto, ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  const url = `mqtt://127.0.0.1:${port}`;
  try {
    await until(() => new Promise((r) => connect(port, '127.0.0.1').once('connect', function (this: any) { this.destroy(); r(true); }).once('error', () => r(false))), 5000, 'mosquitto');

    await queue(url, 'thermostream-bench', n);
    const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, dataDir: join(dir, 'data'), batchIntervalMs: 200, broker: { url, clientId: 'thermostream-bench' } });
    const t0 = performance.now();
    const app = await startThermostream(config);
    await until(async () => (await (await fetch(`${app.httpUrl}/api/v1/stats`)).json()).records >= n, 600_000, 'Thermostream');
    const ms = performance.now() - t0;
    await app.close();
    console.log(`Thermostream, external broker, QoS 1 durable: ${n} readings in ${ms.toFixed(0)} ms = ${Math.round((n * 1000) / ms)}/s`);

    const m = Math.min(n, 2000);
    await queue(url, 'mqttjs-bench', m);
    const fd = openSync(join(dir, 'mqttjs.log'), 'a');
    let got = 0;
    const t1 = performance.now();
    // MQTT 3.1.1: customHandleAcks is MQTT 5 only; handleMessage is MQTT.js' documented hook (its PUBACK follows the
    // callback). Either way MQTT.js handles the next packet only after it.
    const sub = mqtt.connect(url, { clientId: 'mqttjs-bench', clean: false, manualConnect: true });
    sub.handleMessage = (packet, callback) => {
      const payload = (packet as { payload?: Buffer }).payload ?? Buffer.alloc(0);
      write(fd, payload, () => fdatasync(fd, () => (got++, callback())));
    };
    sub.connect();
    await until(() => got >= m, 600_000, 'MQTT.js');
    const ms1 = performance.now() - t1;
    await sub.endAsync();
    closeSync(fd);
    console.log(`MQTT.js subscriber, PUBACK after fdatasync (handleMessage): ${m} in ${ms1.toFixed(0)} ms = ${Math.round((m * 1000) / ms1)}/s`);
    return 0;
  } finally {
    broker.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
