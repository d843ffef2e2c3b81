/**
 * Transports behind one interface, looked up by name (like MQTT.js's protocol map).
 * `mqtt` publishes plain topics with mqtt.js; `azure` runs one unmodified azure-iot-device Client per device (IoT Hub
 * dialect, SAS authentication, device twin).
 */
import { createAzureTransport } from './transports/azure.ts';
import { createMqttTransport } from './transports/mqtt.ts';

/** One publish: the transport chooses the topic from deviceId unless `topic` overrides it. */
export interface Message {
  deviceId: string;
  body: string;
  topic?: string;
  /**
   * What identifies the message's records when they carry no seq (--replay: their messageId or their line in the
   * file), for a transport that gives every message an id (azure); a resend or a duplicate carries the same.
   */
  recordsId?: string;
}

/** Where the azure transport's devices and trust come from (one of connectionStrings, registry). */
export interface AzureOptions {
  /** Connection strings by device id (--connection-strings). */
  connectionStrings?: ReadonlyMap<string, string>;
  /** Server base URL whose registry creates or lists the devices (--registry http://host:port). */
  registry?: string;
  /** Bearer token for the registry's write routes (--api-token). */
  apiToken?: string;
}

export interface TransportOptions {
  /** Broker URL. Optional for azure (it dials the connection string's HostName over TLS by default). */
  url: string | undefined;
  /** PEM file of the CA to trust for TLS (--ca); NODE_EXTRA_CA_CERTS works too. */
  ca?: string;
  qos: 0 | 1;
  deviceIds: readonly string[];
  /** Number of connections; devices are shared round-robin. Equal to the device count = one per device. */
  connections: number;
  /** Unacknowledged publishes allowed per connection before send() refuses. */
  maxInFlight: number;
  connectTimeoutMs: number;
  /** Client id prefix for shared connections (a per-device connection uses the device id). */
  clientIdPrefix: string;
  username?: string;
  password?: string;
  azure?: AzureOptions;
  /**
   * A device was told a new setpoint (azure: the twin's desired `setpoint`, °C). Resolves to the simulated time (epoch
   * ms) from which the model holds it, or false if the device is not simulated.
   */
  onSetpoint?: (deviceId: string, setpoint: number) => Promise<number | false>;
}

export interface TransportStats {
  /** Connections currently up. */
  connected: number;
  /** Reconnect attempts since the start. */
  reconnects: number;
  /** Connection-level errors seen (refused, reset, …). */
  connectionErrors: number;
  lastError?: string;
}

export interface Transport {
  /** Opens every connection; rejects with SIM_CONNECT_FAILED if they are not all up within the connect timeout. */
  connect(): Promise<void>;
  /**
   * Hands a message over. Returns false, without taking it, while the device's connection has maxInFlight
   * unacknowledged publishes. `done` runs once: without error when the broker acknowledged it (QoS 1) or it was
   * written to the socket (QoS 0); with an error when it is lost.
   */
  send(message: Message, done: (error?: Error) => void): boolean;
  /** Publishes handed over and not yet done. */
  readonly inFlight: number;
  readonly stats: TransportStats;
  /** Closes every connection; publishes still in flight complete with an error. */
  close(): Promise<void>;
}

export type TransportFactory = (options: TransportOptions) => Transport;

export const transports: Readonly<Record<string, TransportFactory>> = {
  mqtt: createMqttTransport,
  azure: createAzureTransport,
};
