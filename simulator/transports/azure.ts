/**
 * Azure IoT Hub transport: one unmodified azure-iot-device Client per device (`Client.fromConnectionString(cs, Mqtt)`),
 * authenticated with its SAS key, publishing with the SDK's sendEvent (QoS 1, the SDK's retry policy resends on
 * failure) and listening to its twin's desired `setpoint`.
 *
 * Where it dials: without a URL, the connection string's HostName over MQTT-TLS (the SDK's default). With one, the
 * SDK's own transport class is pointed at it: mqtts://host:port (Mqtt), mqtt://host:port (Mqtt without TLS),
 * ws://host:port[/path] or wss:// (MqttWs; the path defaults to /$iothub/websocket). The SAS token still names the
 * HostName of the connection string.
 *
 * Every message carries a messageId derived from its seqs (`{deviceId}-{seq}`, `{deviceId}-{first}-{last}` for a
 * batch; a replayed record without seq: its messageId or its line in the file, not its content, since two readings
 * alike are two readings), so a resend, by the SDK or an injected duplicate, has the same $.mid and the server counts
 * it once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type device from 'azure-iot-device';
import type deviceMqtt from 'azure-iot-device-mqtt';
import { connectionErrorText, ErrorCodes, SimulatorError } from '../errors.ts';
import { lazy } from '../lazy.ts';
import type { Message, Transport, TransportOptions, TransportStats } from '../transport.ts';
import { registryConnectionStrings } from './azure-credentials.ts';

type DeviceClient = InstanceType<typeof device.Client>;
type TransportCtor = typeof deviceMqtt.Mqtt;

/**
 * The SDK, loaded by the first Azure transport (CommonJS packages, required whole): the server, which carries the
 * simulator for its demo, would otherwise load it at start-up for nothing (≈ 10 MB of RSS).
 */
const sdkDevice = lazy<typeof device>('azure-iot-device');
const sdkMqtt = lazy<typeof deviceMqtt>('azure-iot-device-mqtt');

/** Opens at a time (each is a TLS handshake, a CONNECT and a twin GET). */
const OPEN_CONCURRENCY = 16;
const CLOSE_TIMEOUT_MS = 3000;
/** Setpoints the thermostat accepts, °C (the dashboard's range). */
export const SETPOINT_MIN = 5;
export const SETPOINT_MAX = 35;

interface SimDevice {
  id: string;
  client: DeviceClient;
  inFlight: number;
  up: boolean;
  everUp: boolean;
  /** $version of the last desired properties handled. */
  desiredVersion: number;
}

/** The SDK transport class for a URL: its own Mqtt/MqttWs, with the broker URI replaced when a URL is given. */
export function sdkTransport(url: string | undefined): TransportCtor {
  const { Mqtt, MqttWs } = sdkMqtt();
  if (url === undefined) return Mqtt;
  const u = new URL(url);
  const ws = u.protocol === 'ws:' || u.protocol === 'wss:';
  if (ws && (u.pathname === '' || u.pathname === '/')) u.pathname = '/$iothub/websocket';
  const uri = ws ? u.href : `${u.protocol === 'tcp:' ? 'mqtt:' : u.protocol === 'ssl:' ? 'mqtts:' : u.protocol}//${u.host}`;
  const Base: any = ws ? MqttWs : Mqtt;
  // The SDK builds its broker URI in _getBaseTransportConfig (mqtts://{HostName} or wss://{HostName}:443/…).
  class Dialing extends Base {
    _getBaseTransportConfig(credentials: unknown) {
      const config = super._getBaseTransportConfig(credentials);
      config.uri = uri;
      return config;
    }
  }
  return Dialing as unknown as TransportCtor;
}

/**
 * `{deviceId}-{seq}` (or `-{first}-{last}` for a batch) from the payload; for one without seqs, what the fleet says
 * identifies its records (a replayed record's messageId or line), else a content hash.
 */
export function messageIdOf(deviceId: string, body: string, recordsId?: string): string {
  const first = /"seq":(\d+)/.exec(body);
  if (first === null) return recordsId ?? `${deviceId}-${createHash('sha1').update(body).digest('hex').slice(0, 16)}`;
  const last = body.lastIndexOf('"seq":');
  const lastSeq = /^"seq":(\d+)/.exec(body.slice(last))?.[1];
  return lastSeq === undefined || lastSeq === first[1] ? `${deviceId}-${first[1]}` : `${deviceId}-${first[1]}-${lastSeq}`;
}

/**
 * Destroys what is left of a device client's connection once the SDK has closed it (or given up). The SDK closes a
 * connection whose CONNACK has not come (a server that takes the TCP connection and never answers) by queueing a
 * DISCONNECT that is never sent: its socket stays open, and the process alive, until the SDK's own connect timeout
 * of 60 s. Nothing of the SDK's API reaches it: this follows its internals (device Client → transport → MqttBase →
 * mqtt.js client → stream), and does nothing where they differ.
 */
function dropSocket(client: DeviceClient): void {
  const stream = (client as any)._transport?._mqtt?._mqttClient?.stream as { destroyed?: boolean; destroy?(): void } | undefined;
  if (stream !== undefined && stream.destroyed === false && typeof stream.destroy === 'function') stream.destroy();
}

export function createAzureTransport(o: TransportOptions): Transport {
  const stats: TransportStats = { connected: 0, reconnects: 0, connectionErrors: 0 };
  const devices = new Map<string, SimDevice>();
  const sdk = sdkTransport(o.url);
  let inFlight = 0;
  let closing = false;
  /** Fails a connect() under way: close() calls it, so that its timer goes at once, not at --connect-timeout. */
  let stopConnecting: (() => void) | undefined;
  const fail = (error: unknown) => {
    stats.lastError = connectionErrorText(error);
  };

  function report(_d: SimDevice, patch: Record<string, unknown>, twin: any): void {
    twin.properties.reported.update(patch, (error?: Error) => {
      if (error) fail(error);
    });
  }

  /** The twin's desired properties (the whole set first, then each patch): a `setpoint` is applied and acknowledged. */
  function onDesired(d: SimDevice, twin: any, desired: Record<string, unknown>): void {
    const version = typeof desired.$version === 'number' ? desired.$version : 0;
    if (version !== 0 && version <= d.desiredVersion) return;
    d.desiredVersion = version;
    if (!Object.hasOwn(desired, 'setpoint') || desired.setpoint === null) return;
    const value = desired.setpoint;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < SETPOINT_MIN || value > SETPOINT_MAX) {
      const error = `setpoint must be a number of °C from ${SETPOINT_MIN} to ${SETPOINT_MAX}, got ${JSON.stringify(value)}`;
      report(d, { setpointError: error }, twin);
      return;
    }
    o.onSetpoint?.(d.id, value).then((at) => {
      if (at !== false && !closing) report(d, { setpoint: value, setpointAppliedAt: new Date(at).toISOString(), setpointError: null }, twin);
    }, fail);
  }

  async function open(d: SimDevice, ca: string | undefined): Promise<void> {
    if (ca !== undefined) await d.client.setOptions({ ca });
    await d.client.open();
    const twin: any = await d.client.getTwin();
    twin.on('properties.desired', (desired: Record<string, unknown>) => onDesired(d, twin, desired));
  }

  function watch(d: SimDevice): void {
    d.client.on('connect', () => {
      if (d.everUp) stats.reconnects++;
      if (!d.up) stats.connected++;
      d.up = d.everUp = true;
    });
    d.client.on('disconnect', (result: any) => {
      if (d.up) stats.connected--;
      d.up = false;
      stats.connectionErrors++;
      if (result?.reason) fail(result.reason);
    });
    d.client.on('error', (error: Error) => {
      stats.connectionErrors++;
      fail(error);
    });
  }

  return {
    async connect() {
      const deadline = Date.now() + o.connectTimeoutMs;
      const az = o.azure ?? {};
      const ca = o.ca === undefined ? undefined : readFileSync(o.ca, 'utf8');
      const strings = az.connectionStrings ?? (az.registry !== undefined ? await registryConnectionStrings(az.registry, az.apiToken, o.deviceIds) : new Map());
      for (const id of o.deviceIds) {
        const cs = strings.get(id);
        if (cs === undefined) throw new SimulatorError(ErrorCodes.SIM_CONNECT_FAILED, `no connection string for device ${id}`);
        const d: SimDevice = { id, client: sdkDevice().Client.fromConnectionString(cs, sdk), inFlight: 0, up: false, everUp: false, desiredVersion: 0 };
        watch(d);
        devices.set(id, d);
      }
      const queue = [...devices.values()];
      let opened = 0;
      const worker = async () => {
        for (let d = queue.shift(); d !== undefined && !closing; d = queue.shift()) {
          await open(d, ca);
          opened++;
        }
      };
      // The SDK's open() can hang (a server that takes the connection and never answers): the run then ends by this
      // timer, or by close() (Ctrl-C), which settles the race at once. Either way the timer is cleared (finally), and
      // it never keeps the process alive by itself.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${devices.size - opened} of ${devices.size} devices not connected after ${o.connectTimeoutMs} ms`)), Math.max(0, deadline - Date.now()));
        timer.unref();
      });
      const stopped = new Promise<never>((_, reject) => (stopConnecting = () => reject(new Error('closed while connecting'))));
      if (closing) stopConnecting!(); // closed while the connection strings were fetched
      const opening = Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, devices.size) }, worker));
      opening.catch(() => {}); // stopped first: a later failure of an open is moot (its client is closed)
      try {
        await Promise.race([opening, timeout, stopped]);
      } catch (error) {
        const text = connectionErrorText(error);
        const detail = stats.lastError !== undefined && stats.lastError !== text ? ` (${stats.lastError})` : '';
        const where = o.url ?? 'the connection strings\' HostName';
        throw new SimulatorError(ErrorCodes.SIM_CONNECT_FAILED, `cannot connect to ${where}: ${text}${detail}`);
      } finally {
        clearTimeout(timer);
        stopConnecting = undefined;
      }
    },
    send(message: Message, done: (error?: Error) => void): boolean {
      const d = devices.get(message.deviceId);
      if (d === undefined || closing || d.inFlight >= o.maxInFlight) return false;
      d.inFlight++;
      inFlight++;
      const m = new (sdkDevice().Message)(message.body);
      m.messageId = messageIdOf(message.deviceId, message.body, message.recordsId);
      m.contentType = 'application/json';
      m.contentEncoding = 'utf-8';
      d.client.sendEvent(m, (error?: Error) => {
        d.inFlight--;
        inFlight--;
        done(error ?? undefined);
      });
      return true;
    },
    get inFlight() {
      return inFlight;
    },
    stats,
    async close() {
      closing = true;
      stopConnecting?.();
      await Promise.all(
        [...devices.values()].map(
          (d) =>
            new Promise<void>((resolve) => {
              const closed = () => {
                clearTimeout(timer);
                dropSocket(d.client);
                resolve();
              };
              const timer = setTimeout(closed, CLOSE_TIMEOUT_MS);
              d.client.close().then(closed, closed);
            }),
        ),
      );
      stats.connected = 0;
    },
  };
}
