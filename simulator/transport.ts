/**
 * Transports behind one interface, looked up by name (like MQTT.js's protocol map).
 * `mqtt` publishes plain topics with mqtt.js. An `azure` transport (one azure-iot-device Client per device, Azure IoT
 * Hub topic dialect) plugs in here later: add its factory to `transports` and nothing else changes.
 */
import { createMqttTransport } from './transports/mqtt.ts';

/** One publish: the transport chooses the topic from deviceId unless `topic` overrides it. */
export interface Message {
  deviceId: string;
  body: string;
  topic?: string;
}

export interface TransportOptions {
  url: string;
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
};
