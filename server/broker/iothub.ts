import type { Client, PublishPacket } from 'aedes';
import type { Clock } from '../clock.ts';
import { HttpError } from '../errors.ts';
import type { Registry } from '../registry/index.ts';
import { ANY_DEVICEBOUND } from './auth.ts';

/**
 * The IoT Hub device dialect's request/response side, as `azure-iot-device-mqtt` speaks it (mqtt.js,
 * mqtt_twin_client.js): twin GET and reported PATCH, desired-property pushes, cloud-to-device messages and direct
 * methods. Everything here goes to ONE connection (a device's own), never through aedes' topic routing, so one
 * device can never see another's twin, messages or method calls even though all subscribe to `$iothub/...#`.
 */
export interface Hub {
  /** A connection authenticated as `deviceId` is ready (the newest one replaces an older one, as IoT Hub does). */
  connected(deviceId: string, client: Client): void;
  disconnected(deviceId: string, client: Client): void;
  /** A device subscribed to `topic`: queued cloud-to-device messages go out once it listens for them. */
  subscribed(deviceId: string, client: Client, topic: string): void;
  /** A PUBLISH on `$iothub/...` from `deviceId`. */
  request(deviceId: string, client: Client, packet: PublishPacket): void;
  isConnected(deviceId: string): boolean;
  /** Disconnects the device's connection (it was disabled or deleted). */
  kick(deviceId: string): void;
  /** Pushes a desired-properties patch (already stored, at `version`) to the device if it is connected. */
  pushDesired(deviceId: string, patch: Record<string, unknown>, version: number): void;
  /** Delivers the queued cloud-to-device messages if the device listens; returns how many went out. */
  flush(deviceId: string): number;
  /** Waits up to `connectTimeoutMs` for the device to connect and listen for methods, then `timeoutMs` for its answer. */
  invokeMethod(deviceId: string, methodName: string, payload: unknown, timeoutMs: number, connectTimeoutMs?: number): Promise<{ status: number; payload: unknown }>;
  stats(): HubStats;
  close(): void;
}

export interface HubStats {
  connectedDevices: number;
  twinRequests: number;
  methodCalls: number;
  methodTimeouts: number;
  cloudMessagesDelivered: number;
}

type Deliver = (packet: object, cb: () => void) => void;

/** How often a method call waiting for its device to connect looks again. */
const CONNECT_POLL_MS = 100;

/** Unique per request; the device echoes it back in `$rid`. */
let ridCounter = 0;

export function createHub(deps: { registry: Registry; clock: Clock }): Hub {
  const { registry, clock } = deps;
  const clients = new Map<string, Client>();
  const pending = new Map<
    string,
    { deviceId: string; resolve: (r: { status: number; payload: unknown }) => void; reject: (err: Error) => void; timer: unknown }
  >();
  let closed = false;
  const totals: Omit<HubStats, 'connectedDevices'> = { twinRequests: 0, methodCalls: 0, methodTimeouts: 0, cloudMessagesDelivered: 0 };

  const send = (client: Client, topic: string, payload: Buffer | string, qos: 0 | 1 = 0, done: () => void = noop): void => {
    const packet = { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos, retain: false, dup: false };
    // aedes' Client#publish: straight to this connection (a persistent session's outgoing store first, for QoS 1).
    (client as unknown as { publish: Deliver }).publish(packet, done);
  };

  const listens = (client: Client, filter: string): boolean =>
    Object.prototype.hasOwnProperty.call((client as unknown as { subscriptions: object }).subscriptions, filter);

  function answer(client: Client, status: number, rid: string, body: string, extra = ''): void {
    send(client, `$iothub/twin/res/${status}/?$rid=${encodeURIComponent(rid)}${extra}`, body);
  }

  function twinRequest(deviceId: string, client: Client, path: string, rid: string, payload: Buffer): void {
    totals.twinRequests++;
    try {
      if (path === 'GET/') {
        const t = registry.twin(deviceId);
        const body = { desired: { ...t.desired, $version: t.desiredVersion }, reported: { ...t.reported, $version: t.reportedVersion } };
        return answer(client, 200, rid, JSON.stringify(body));
      }
      if (path === 'PATCH/properties/reported/') {
        let patch: unknown;
        try {
          patch = JSON.parse(payload.toString('utf8'));
        } catch {
          return answer(client, 400, rid, JSON.stringify({ errorCode: 400, message: 'reported properties patch is not JSON' }));
        }
        const version = registry.patchReported(deviceId, patch);
        return answer(client, 204, rid, '', `&$version=${version}`);
      }
      answer(client, 404, rid, JSON.stringify({ errorCode: 404, message: `unknown twin operation ${path}` }));
    } catch (err) {
      const status = err instanceof HttpError ? err.statusCode : 500;
      answer(client, status, rid, JSON.stringify({ errorCode: status, message: (err as Error).message }));
    }
  }

  const hub: Hub = {
    connected(deviceId, client) {
      const old = clients.get(deviceId);
      clients.set(deviceId, client);
      if (old !== undefined && old !== client) old.close();
      // A persistent session comes back with its subscriptions (aedes restores them without a SUBSCRIBE).
      hub.flush(deviceId);
    },
    disconnected(deviceId, client) {
      if (clients.get(deviceId) === client) clients.delete(deviceId);
    },
    subscribed(deviceId, client, topic) {
      if ((topic === `devices/${deviceId}/messages/devicebound/#` || topic === ANY_DEVICEBOUND) && clients.get(deviceId) === client) hub.flush(deviceId);
    },
    request(deviceId, client, packet) {
      // $iothub/twin/{GET|PATCH/properties/reported}/?$rid={rid}   $iothub/methods/res/{status}/?$rid={rid}
      const q = packet.topic.indexOf('?');
      const path = q < 0 ? packet.topic : packet.topic.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : packet.topic.slice(q + 1));
      const rid = query.get('$rid') ?? '';
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      if (path.startsWith('$iothub/twin/')) {
        // The SDK sends a trailing slash before the query ($iothub/twin/GET/?$rid=1); some clients do not.
        const op = path.slice('$iothub/twin/'.length);
        return twinRequest(deviceId, client, op.endsWith('/') ? op : `${op}/`, rid, payload);
      }
      const m = /^\$iothub\/methods\/res\/(\d{3})\/?$/.exec(path);
      if (m !== null) {
        const call = pending.get(rid);
        if (call === undefined || call.deviceId !== deviceId) return; // late, or not this device's call: ignored
        pending.delete(rid);
        clock.clearTimeout(call.timer);
        let body: unknown = null;
        const text = payload.toString('utf8');
        try {
          body = text === '' ? null : JSON.parse(text);
        } catch {
          body = text;
        }
        call.resolve({ status: Number(m[1]), payload: body });
      }
    },
    isConnected: (deviceId) => clients.has(deviceId),
    kick(deviceId) {
      clients.get(deviceId)?.close();
      clients.delete(deviceId);
    },
    pushDesired(deviceId, patch, version) {
      const client = clients.get(deviceId);
      if (client === undefined || !listens(client, '$iothub/twin/PATCH/properties/desired/#')) return;
      send(client, `$iothub/twin/PATCH/properties/desired/?$version=${version}`, JSON.stringify({ ...patch, $version: version }));
    },
    flush(deviceId) {
      const client = clients.get(deviceId);
      // devices/+/… (Azure's Embedded C SDK) where authentication is off; with it on, the broker kept it as the device's own.
      if (client === undefined || !(listens(client, `devices/${deviceId}/messages/devicebound/#`) || listens(client, ANY_DEVICEBOUND))) return 0;
      const messages = registry.queued(deviceId);
      for (const m of messages) {
        const props = new URLSearchParams({ ...m.properties, '$.mid': m.messageId, '$.to': `/devices/${deviceId}/messages/devicebound` });
        // Removed from the queue once written to the device's connection (at most once; IoT Hub waits for PUBACK).
        registry.dequeue(m.seq);
        totals.cloudMessagesDelivered++;
        send(client, `devices/${deviceId}/messages/devicebound/${props.toString().replace(/\+/g, '%20')}`, m.body, 1);
      }
      return messages.length;
    },
    async invokeMethod(deviceId, methodName, payload, timeoutMs, connectTimeoutMs = 0) {
      const listening = (): Client | undefined => {
        const c = clients.get(deviceId);
        return c !== undefined && listens(c, '$iothub/methods/POST/#') ? c : undefined;
      };
      let client = listening();
      // IoT Hub's connectTimeoutInSeconds: a device that is about to connect (or subscribe) is waited for.
      for (const deadline = clock.now() + connectTimeoutMs; client === undefined && !closed && clock.now() < deadline; client = listening()) {
        await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), Math.min(CONNECT_POLL_MS, deadline - clock.now())));
      }
      if (closed) throw new HttpError(503, 'TS_ERR_DEVICE_NOT_CONNECTED', `the server is shutting down; method call to "${deviceId}" abandoned`);
      if (client === undefined) {
        const waited = connectTimeoutMs > 0 ? ` within ${connectTimeoutMs / 1000} s` : '';
        throw new HttpError(404, 'TS_ERR_DEVICE_NOT_CONNECTED', `device "${deviceId}" is not connected or does not listen for direct methods${waited}`);
      }
      totals.methodCalls++;
      const rid = (++ridCounter).toString(16);
      return new Promise((resolve, reject) => {
        const timer = clock.setTimeout(() => {
          pending.delete(rid);
          totals.methodTimeouts++;
          reject(new HttpError(504, 'TS_ERR_METHOD_TIMEOUT', `device "${deviceId}" did not answer method "${methodName}" within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        pending.set(rid, { deviceId, resolve, reject, timer });
        send(client, `$iothub/methods/POST/${encodeURIComponent(methodName)}/?$rid=${rid}`, JSON.stringify(payload ?? null));
      });
    },
    stats: () => ({ connectedDevices: clients.size, ...totals }),
    close() {
      closed = true;
      // Calls in flight end now, so that the HTTP server's close does not wait for their timeouts.
      for (const [rid, call] of pending) {
        clock.clearTimeout(call.timer);
        pending.delete(rid);
        call.reject(new HttpError(503, 'TS_ERR_DEVICE_NOT_CONNECTED', `the server is shutting down; method call to "${call.deviceId}" abandoned`));
      }
    },
  };
  return hub;
}

function noop(): void {}
