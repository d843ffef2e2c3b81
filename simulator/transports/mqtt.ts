/**
 * Plain-topic MQTT transport on mqtt.js: `devices/{deviceId}/telemetry`, QoS 0 or 1, MQTT 3.1.1.
 *
 * QoS 1 publishes live in mqtt.js's outgoing store until PUBACK and are resent after a reconnect (and those it fails
 * with 'Connection closed' are published again), so `done` fires only on a real acknowledgement. Reconnects back off
 * exponentially (0.5 s doubling to 15 s, with jitter).
 */
import { readFileSync } from 'node:fs';
import type mqttLib from 'mqtt';
import type { MqttClient } from 'mqtt';
import { connectionErrorText, ErrorCodes, SimulatorError } from '../errors.ts';
import { lazy } from '../lazy.ts';
import { telemetryTopic } from '../reading.ts';
import type { Message, Transport, TransportOptions, TransportStats } from '../transport.ts';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;

interface Connection {
  client: MqttClient;
  inFlight: number;
  backoffMs: number;
  up: boolean;
}

/** mqtt.js, loaded by the first MQTT transport: the server, which carries the simulator for its demo, need not. */
const mqtt = lazy<typeof mqttLib>('mqtt');

/**
 * A WebSocket URL without a path gets the server's `/mqtt` (as the azure transport gets `/$iothub/websocket`):
 * mqtt.js would ask for `/`, which the server answers 404, and mqtt.js drops that error, so the run only timed out.
 */
function withWebSocketPath(url: string): string {
  if (!/^wss?:/.test(url)) return url;
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/mqtt';
  return u.href;
}

export function createMqttTransport(o: TransportOptions): Transport {
  const stats: TransportStats = { connected: 0, reconnects: 0, connectionErrors: 0 };
  const connections: Connection[] = [];
  const byDevice = new Map<string, Connection>();
  const topics = new Map<string, string>();
  let inFlight = 0;
  let closing = false;
  const perDevice = o.connections >= o.deviceIds.length;

  const url = withWebSocketPath(o.url ?? '');
  let ca: Buffer | undefined;
  function open(clientId: string): Connection {
    const client = mqtt().connect(url, {
      clientId,
      ca,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: BACKOFF_MIN_MS,
      connectTimeout: o.connectTimeoutMs,
      username: o.username,
      password: o.password,
      // The fleet bounds in-flight itself; mqtt.js may queue QoS 0 while offline (bounded by that same limit).
      queueQoSZero: true,
    });
    const c: Connection = { client, inFlight: 0, backoffMs: BACKOFF_MIN_MS, up: false };
    // mqtt.js drops a stream error that has no code (a WebSocket upgrade answered 404: a path the server does not
    // serve): kept for the connect timeout's message. Each reconnect makes a new stream, synchronously after 'reconnect'.
    const watchStream = (): void => {
      client.stream?.on('error', (error: Error & { code?: string }) => {
        if (error.code === undefined) stats.lastError = connectionErrorText(error);
      });
    };
    watchStream();
    client.on('connect', () => {
      if (!c.up) stats.connected++;
      c.up = true;
      c.backoffMs = BACKOFF_MIN_MS;
      client.options.reconnectPeriod = BACKOFF_MIN_MS;
    });
    client.on('close', () => {
      if (c.up) stats.connected--;
      c.up = false;
    });
    client.on('reconnect', () => {
      queueMicrotask(watchStream);
      stats.reconnects++;
      // Sets the wait before the next attempt (mqtt.js reads reconnectPeriod each time it schedules one).
      c.backoffMs = Math.min(BACKOFF_MAX_MS, c.backoffMs * 2);
      client.options.reconnectPeriod = Math.round(c.backoffMs * (0.75 + Math.random() * 0.5));
    });
    client.on('error', (error) => {
      stats.connectionErrors++;
      stats.lastError = connectionErrorText(error);
    });
    return c;
  }

  const count = Math.max(1, Math.min(o.connections, o.deviceIds.length));
  return {
    connect() {
      ca = o.ca === undefined ? undefined : readFileSync(o.ca);
      for (let k = 0; k < count; k++) {
        const clientId = perDevice ? (o.deviceIds[k] as string) : `${o.clientIdPrefix}${k + 1}`;
        connections.push(open(clientId));
      }
      o.deviceIds.forEach((id, i) => {
        byDevice.set(id, connections[i % count] as Connection);
        topics.set(id, telemetryTopic(id));
      });
      return new Promise<void>((resolve, reject) => {
        let pending = connections.length;
        const timer = setTimeout(() => {
          const detail = stats.lastError ? `: ${stats.lastError}` : '';
          reject(
            new SimulatorError(
              ErrorCodes.SIM_CONNECT_FAILED,
              `cannot connect to ${url}: ${pending} of ${connections.length} connections not up after ${o.connectTimeoutMs} ms${detail}`,
            ),
          );
        }, o.connectTimeoutMs);
        timer.unref(); // a fleet stopped while connecting, its transport closed, does not wait for it
        for (const c of connections) {
          c.client.once('connect', () => {
            if (--pending === 0) {
              clearTimeout(timer);
              resolve();
            }
          });
        }
      });
    },
    send(message: Message, done: (error?: Error) => void): boolean {
      const c = byDevice.get(message.deviceId) ?? (connections[0] as Connection);
      if (c.inFlight >= o.maxInFlight || closing) return false;
      c.inFlight++;
      inFlight++;
      const topic = message.topic ?? topics.get(message.deviceId) ?? telemetryTopic(message.deviceId);
      const publish = (): void => {
        c.client.publish(topic, message.body, { qos: o.qos }, (error) => {
          // After a reconnect mqtt.js resends its stored publishes one by one and queues new ones meanwhile; if that
          // connection is lost too, it fails the queued ones ('Connection closed'). A device keeps them: send again,
          // once mqtt.js is done failing its queue (a publish now would join the queue it is going through).
          if (error?.message === 'Connection closed' && o.qos === 1 && !closing) return void setImmediate(publish);
          c.inFlight--;
          inFlight--;
          done(error ?? undefined);
        });
      };
      publish();
      return true;
    },
    get inFlight() {
      return inFlight;
    },
    stats,
    async close() {
      closing = true;
      await Promise.all(
        connections.map(
          (c) =>
            new Promise<void>((resolve) => {
              // Readings still unacknowledged now are lost (the drain is over): close at once. mqtt.js's graceful
              // end would wait for their acknowledgements for good, and an end(true) during it returns doing nothing,
              // so the connection stayed open (and the CLI running) after the summary.
              if (c.inFlight > 0) return void c.client.end(true, () => resolve());
              // Graceful DISCONNECT; if the broker does not take it in time, the socket is closed under it.
              const timer = setTimeout(() => {
                c.client.stream?.destroy();
                resolve();
              }, 2000);
              c.client.end(false, () => {
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
      );
      stats.connected = 0;
    },
  };
}
