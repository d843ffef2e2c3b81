import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { connect as netConnect } from 'node:net';
import type { TestContext } from 'node:test';
import device from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Thermostream } from '../server/main.ts';
import { startServer } from './helpers.ts';
import { mqttUsername, sasToken } from '../server/registry/sas.ts';

export { sasToken };

// The SDK packages are CommonJS whose named exports Node cannot detect: take them off the default export.
export const { Client, Message, ModuleClient } = device;
export const { Mqtt, MqttWs } = deviceMqtt;
export type DeviceClient = InstanceType<typeof Client>;

/** A server with TLS on an ephemeral port and authentication by the registry. */
export function startSecureServer(t: TestContext, overrides: Record<string, unknown> = {}): Promise<Thermostream> {
  return startServer(t, {
    mqtt: { tlsPort: 0 },
    auth: { mode: 'registry', users: [] },
    allowedLatenessMs: 600_000,
    ...overrides,
  });
}

export async function request(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : JSON.parse(text) };
}

/** Registers a device over HTTP and returns its registry entry (with its connection string). */
export async function addDevice(app: Thermostream, deviceId: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await request('POST', `${app.httpUrl}/api/v1/registry/devices`, { deviceId, ...extra });
  if (res.status !== 201) throw new Error(`cannot add ${deviceId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * An unmodified Azure IoT SDK device client on MQTT over TLS, trusting the server's generated CA (the SDK's `ca`
 * option), closed when the test ends. Not opened.
 */
export async function sdkClient(t: TestContext, app: Thermostream, connectionString: string): Promise<DeviceClient> {
  const client = Client.fromConnectionString(connectionString, Mqtt);
  await client.setOptions({ ca: readFileSync(app.caFile!, 'utf8') });
  t.after(() => client.close().catch(() => {}));
  return client;
}

/**
 * The SDK's MqttWs transport always dials wss://{host}:443/$iothub/websocket. Its `mqtt.webSocketAgent` option (meant
 * for proxies) lets the test send that request to the server's HTTP port instead; the WebSocket handshake then runs
 * over plain HTTP (this server serves WebSocket without TLS).
 */
export async function sdkWsClient(t: TestContext, app: Thermostream, connectionString: string): Promise<DeviceClient> {
  const port = Number(new URL(app.httpUrl).port);
  class ToHttpPort extends HttpsAgent {
    override createConnection(): any {
      return netConnect(port, '127.0.0.1');
    }
  }
  const client = Client.fromConnectionString(connectionString, MqttWs);
  await client.setOptions({ mqtt: { webSocketAgent: new ToHttpPort() } } as any);
  t.after(() => client.close().catch(() => {}));
  return client;
}

/** A reading as the SDK sends it: JSON in UTF-8, with a message id. */
export function reading(ts: number, temperature: number, messageId: string): InstanceType<typeof Message> {
  const m = new Message(JSON.stringify({ ts, temperature }));
  m.messageId = messageId;
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  return m;
}


export interface HubLogin {
  deviceId: string;
  /** The device in the username and the client id (default deviceId). */
  as?: string;
  key: string;
  expirySeconds?: number;
  /** The resource the token is for (default {host}/devices/{deviceId}). */
  resource?: string;
  /** The host name in the username and the token (default the server's HostName). */
  host?: string;
}

/** mqtt.js options for an IoT Hub device login (username, SAS password, client id) on the server's HostName. */
export function hubOptions(app: Thermostream, login: HubLogin): IClientOptions {
  const who = login.as ?? login.deviceId;
  const expiry = login.expirySeconds ?? Math.floor(Date.now() / 1000) + 3600;
  const host = login.host ?? app.hostName;
  return {
    clientId: who,
    username: mqttUsername(host, who),
    password: sasToken(login.resource ?? `${host}/devices/${login.deviceId}`, login.key, expiry),
    ca: app.caFile === null ? undefined : readFileSync(app.caFile, 'utf8'),
    reconnectPeriod: 0,
    connectTimeout: 5000,
  };
}

/** Connects mqtt.js to `url` (closed when the test ends); rejects with the CONNACK error. */
export async function connectWith(t: TestContext, url: string, options: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, options);
  // Forced: a connection the server closed may still hold an unacknowledged publish that a graceful end waits for.
  t.after(() => client.endAsync(true));
  return client;
}

/** The error a refused connect gets (mqtt.js: "Connection refused: Not authorized", code 5). */
export async function refusedConnect(url: string, options: IClientOptions): Promise<{ message: string; code: unknown }> {
  try {
    const client = await mqtt.connectAsync(url, options);
    await client.endAsync();
  } catch (err) {
    return { message: (err as Error).message, code: (err as { code?: unknown }).code };
  }
  throw new Error('the connection was accepted');
}
