import type { Server as HttpServer } from 'node:http';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ThermostreamError, type RejectReason } from '../errors.ts';
import type { Registry } from '../registry/index.ts';
import { isLoopback, urlHost } from '../url.ts';
import { AuthFailures, createAuthenticator, subscriptionFor, type AuthFailure, type Identity } from './auth.ts';
import type { ServerCertificate } from './certs.ts';
import { ConnectionCloses, limitLog, remoteAddress } from './closes.ts';
import { installFastPublish, type PublishSink } from './fast-publish.ts';
import { limitPacketSizes } from './packet-limit.ts';
import { createHub, type Hub, type HubStats } from './iothub.ts';
import { Qos2Receipts } from './qos2.ts';
import { keepDeviceSessions, persistenceOf } from './sessions.ts';
import type { Listener } from './listen.ts';
import { listenTcp } from './tcp.ts';
import { listenTls } from './tls.ts';
import { attachWebSocket, type WebSocketListener } from './ws.ts';

export interface BrokerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** MQTT over TLS; -1 or absent = none. */
  tlsPort?: number;
  tls?: ServerCertificate;
  /** Authentication (absent: none, as auth.mode none). */
  auth?: Config['auth'];
  /** iothub.hostName: SAS tokens for another host are refused; empty or absent: tokens for any host are taken. */
  hostName?: string;
  /** mqtt.maxPacketBytes as resolved (mqttMaxPacketBytes): a larger packet closes its connection; 0 or absent: no limit. */
  maxPacketBytes?: number;
}

/**
 * Called for every PUBLISH a client sends, before the broker acknowledges it.
 * `done()` releases the PUBACK (QoS 1); ingest calls it once the reading is safely accepted.
 * The hook never refuses a packet: bad input is dead-lettered by ingest, not answered with a disconnect.
 */
export type OnPublish = (clientId: string, packet: PublishPacket, done: () => void) => void;

/**
 * A publish the broker refused (a device publishing for another): ingest dead-letters and counts it, and calls
 * `done()` (the PUBACK: MQTT 3.1.1 has no negative one) once the dead letter is stored.
 */
export type OnRefused = (reason: RejectReason, detail: string, deviceId: string, packet: PublishPacket, done: () => void) => void;

export interface BrokerDeps {
  onPublish: OnPublish;
  onRefused?: OnRefused;
  /** Device identities and twins; without it SAS authentication and the IoT Hub twin/method topics are unavailable. */
  registry?: Registry;
  clock?: Clock;
  /** One line per refused connection, publish or subscription (never with a secret). */
  log?: (line: string) => void;
  /**
   * Whether a client's publish on `topic` is also routed to MQTT subscribers. Telemetry that only Thermostream
   * consumes need not be: skipping aedes' routing (topic matching, offline queues, a packet copy) for it is what
   * lets ingest keep up. The broker's own publishes are always routed.
   */
  forward?: (topic: string) => boolean;
  /**
   * The telemetry fast path (fast-publish.ts): publishes that are not forwarded and that the client may make go
   * straight to `fastPath` instead of through aedes. Needs `forward`.
   */
  fastPath?: PublishSink;
}

export type { PublishSink };

export interface SecurityStats {
  authFailures: { total: number; byReason: Partial<Record<AuthFailure, number>> };
  refusedPublishes: number;
  refusedSubscriptions: number;
  qos2Disconnects: number;
  /** Connections closed for a packet over mqtt.maxPacketBytes. */
  oversizedPackets: number;
  /** Connections closed for sending more than MAX_PACKETS_BEFORE_CONNACK packets before their CONNACK. */
  packetsBeforeConnack: number;
}

export interface Broker {
  readonly aedes: Aedes;
  readonly port: number;
  readonly url: string;
  /** The listener accepts connections (for /readyz). */
  readonly listening: boolean;
  /** MQTT clients connected now. */
  readonly connectedClients: number;
  /** MQTT over TLS, or null when off. */
  readonly tlsPort: number | null;
  readonly tlsUrl: string | null;
  readonly hub: Hub | null;
  /**
   * Serves MQTT over WebSocket on an HTTP server's upgrade requests (/mqtt, /$iothub/websocket), with the packet
   * limit (maxPacketBytes) of the TCP listeners.
   */
  attachWebSocket(server: HttpServer): void;
  stats(): SecurityStats & { hub: HubStats | null };
  /** Stops taking new connections; live ones go on until close(). */
  stopListening(): void;
  /** Lets what was written to the clients (acknowledgements) reach them, then disconnects them. */
  close(): Promise<void>;
}

/**
 * Packets a connection may send after its CONNECT and before its CONNACK (aedes' queueLimit, 42 by default); the
 * connection is closed at the next one. MQTT lets a client pipeline its packets behind CONNECT, and a raw-socket
 * device that keeps its window of 200 unacknowledged QoS 1 readings (DESIGN.md) sends them in its first write; 42
 * closed it. aedes holds the queued packets, parsed, until the connection is authenticated; it reads nothing more from
 * the socket meanwhile, so their bytes are those of the read that held the CONNECT (a socket read, or one WebSocket
 * message, at most twice mqtt.maxPacketBytes and 1 MiB), and the count bounds only the parsed objects (about 230 bytes
 * each, measured with mqtt-packet): at most about 230 KB per connection not yet authenticated.
 */
export const MAX_PACKETS_BEFORE_CONNACK = 1000;

/** How long close() waits for acknowledgements already written to reach slow clients. */
const FLUSH_TIMEOUT_MS = 2000;

/** Like Mosquitto 2: a broker that lets anyone in listens on loopback only. */
export function checkSafeBind(host: string, auth: Config['auth'] | undefined): void {
  if ((auth?.mode ?? 'none') === 'none' && !isLoopback(host)) {
    throw new ThermostreamError(
      'TS_ERR_INSECURE_BIND',
      `host = ${JSON.stringify(host)} is not a loopback address and auth.mode is "none": anyone who can reach it could publish ` +
        'readings for any device. Set auth.mode to "registry" (--auth registry; devices from `npm run devices -- add <id>`, ' +
        'users in auth.users) or bind 127.0.0.1 (--host 127.0.0.1)',
    );
  }
}

/** Embedded aedes broker speaking MQTT 3.1.1 over TCP, TLS and WebSocket, with IoT Hub's device dialect. */
export async function createBroker(config: BrokerConfig, deps: BrokerDeps): Promise<Broker> {
  checkSafeBind(config.host, config.auth);
  const auth = config.auth ?? { mode: 'none' as const, users: [] };
  const registry = deps.registry;
  const clock = deps.clock ?? systemClock;
  const log = limitLog(deps.log ?? (() => {}), deps.clock ?? systemClock);
  const authenticator = createAuthenticator(auth, registry ?? { credentials: () => undefined }, () => clock.now(), config.hostName);
  const hub = registry === undefined ? null : createHub({ registry, clock });
  const identities = new WeakMap<Client, Identity>();
  // One connection per device, as on IoT Hub (a newer one replaces the older); a user that speaks for every device
  // (a bridge) may hold many, and has no twin or session of its own.
  const isDevice = (identity: Identity | undefined): identity is Identity => identity !== undefined && (identity.restricted || auth.mode === 'none');
  /** Refused packets: acknowledged (MQTT 3.1.1 has no negative PUBACK) but never routed. */
  const refused = new WeakSet<PublishPacket>();
  const security: SecurityStats = { authFailures: { total: 0, byReason: {} }, refusedPublishes: 0, refusedSubscriptions: 0, qos2Disconnects: 0, oversizedPackets: 0, packetsBeforeConnack: 0 };
  const closes = new ConnectionCloses(log, MAX_PACKETS_BEFORE_CONNACK, () => security.packetsBeforeConnack++);

  function refusePublish(client: Client, identity: Identity, packet: PublishPacket, done: (err?: Error | null) => void): void {
    security.refusedPublishes++;
    refused.add(packet);
    const detail = `device "${identity.deviceId}" may not publish on ${JSON.stringify(packet.topic)} (only under ${identity.prefix})`;
    log(`refused publish from client "${client.id}": ${detail}`);
    if (deps.onRefused === undefined) return done(null);
    deps.onRefused('not_authorized', detail, identity.deviceId, packet, done);
  }

  const aedes = await Aedes.createBroker({
    // Device ids go up to 128 characters (DESIGN.md); devices often use them as MQTT client ids.
    maxClientsIdLength: 256,
    queueLimit: MAX_PACKETS_BEFORE_CONNACK,
    preConnect: closes.preConnect,
    authenticate(client: Client, username: string | undefined, password: Buffer | undefined, callback) {
      const result = authenticator(client.id, username, password);
      if (result.ok) {
        identities.set(client, result.identity);
        const connected = () => callback(null, true);
        return sessions === null ? connected() : sessions.keep(client, result.identity, connected);
      }
      security.authFailures.total++;
      security.authFailures.byReason[result.reason] = (security.authFailures.byReason[result.reason] ?? 0) + 1;
      closes.closedBy(client, `refused connection of client "${client.id.slice(0, 128)}" from ${remoteAddress(client)}: ${result.reason} (${result.detail})`);
      // CONNACK 5 "not authorized" and nothing more: the reason stays in the server's log and counters.
      const err = new Error('not authorized') as AuthenticateError;
      err.returnCode = 5;
      callback(err, false);
    },
    authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) {
      // Publishes from inside the broker ($SYS heartbeats) have no client and are not telemetry.
      if (client === null) return callback(null);
      const identity = identities.get(client)!;
      const topic = packet.topic;
      if (topic.charCodeAt(0) === 36 /* $ */ && topic.startsWith('$iothub/')) {
        if (packet.qos === 2) return qos2(client, packet, callback);
        refused.add(packet); // answered to this connection only, never routed
        hub?.request(identity.deviceId, client, packet);
        return callback(null);
      }
      if (identity.restricted && !topic.startsWith(identity.prefix)) return refusePublish(client, identity, packet, callback);
      if (packet.qos !== 2) return deps.onPublish(client.id, packet, callback);
      if (topic.indexOf('/messages/', 8) > 0) return qos2(client, packet, callback);
      qos2Receipts.receive(client, packet, callback, (durable) => deps.onPublish(client.id, packet, durable));
    },
    authorizeSubscribe(client: Client | null, sub: Subscription, callback: (error: Error | null, sub: Subscription | null) => void) {
      if (client === null) return callback(null, sub);
      const identity = identities.get(client)!;
      const topic = subscriptionFor(identity, sub.topic);
      if (topic !== null) return callback(null, topic === sub.topic ? sub : { ...sub, topic });
      security.refusedSubscriptions++;
      log(`refused subscription of client "${client.id}" to ${JSON.stringify(sub.topic)}: device "${identity.deviceId}" may subscribe only to ${identity.prefix}messages/devicebound/# and $iothub/...`);
      callback(null, null); // SUBACK 0x80 for this filter
    },
  });

  const persistence = persistenceOf(aedes);
  const qos2Receipts = new Qos2Receipts<Client>((client, messageId) =>
    persistence.incomingGetPacket(client, { messageId }).then((p) => p != null, () => false),
  );

  function qos2(client: Client, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    // IoT Hub does not support QoS 2 and closes the connection; so does its dialect here.
    security.qos2Disconnects++;
    closes.closedBy(client, `closed client "${client.id}": QoS 2 publish on ${JSON.stringify(packet.topic)} (IoT Hub supports QoS 0 and 1)`);
    callback(new Error('QoS 2 is not supported'));
  }

  // A protocol violation (a wildcard or an empty topic in a PUBLISH, a malformed packet, a missed keep-alive) closes
  // the connection, as MQTT requires: the log says which client and why.
  closes.listen(aedes);

  // A connection lives as long as its token: the SDK renews its token before expiry by reconnecting.
  const expiries = new Map<Client, unknown>();
  const closeAtExpiry = (client: Client, expiresAt: number): void => {
    const left = expiresAt - clock.now();
    // A timer waits at most 2^31 - 1 ms (24.8 days): a token valid for longer is looked at again then.
    expiries.set(client, clock.setTimeout(() => {
      if (expiresAt - clock.now() > 0) return closeAtExpiry(client, expiresAt);
      expiries.delete(client);
      log(`closed client "${client.id}": its SAS token expired at ${new Date(expiresAt).toISOString()}`);
      client.close();
    }, Math.min(Math.max(0, left), 2 ** 31 - 1)));
  };
  aedes.on('clientReady', (client) => {
    const expiresAt = identities.get(client)?.expiresAt;
    if (expiresAt !== undefined) closeAtExpiry(client, expiresAt);
  });
  aedes.on('clientDisconnect', (client) => {
    const timer = expiries.get(client);
    if (timer !== undefined) clock.clearTimeout(timer);
    expiries.delete(client);
  });

  // After the token expiries' handlers: a connection the hub closes at once (its device deleted) clears its timer.
  const sessions = registry === undefined || hub === null ? null : keepDeviceSessions(aedes, { registry, hub, identities, isDevice, log });

  const forward = deps.forward;
  // aedes routes an accepted PUBLISH through broker.publish(packet, client, done) (lib/handlers/publish.js).
  type Route = (packet: PublishPacket, client: Client | null, done: (err?: Error) => void) => void;
  const route = (aedes.publish as unknown as Route).bind(aedes);
  const routeSome: Route = (packet, client, done) =>
    typeof client === 'object' && client !== null && ((forward !== undefined && !forward(packet.topic)) || refused.has(packet))
      ? done()
      : route(packet, client, done);
  (aedes as unknown as { publish: Route }).publish = routeSome;

  const sink = deps.fastPath;
  if (sink !== undefined && forward !== undefined) {
    // What authorizePublish and routeSome would do with the publish, decided once per topic and connection: a
    // device's own, non-$ topic that is not routed to subscribers, within aedes' topic depth.
    const maxTopicLevels = (aedes as unknown as { maxTopicLevels: number }).maxTopicLevels;
    const fastTopic = (topic: string, client: Client): boolean => {
      const identity = identities.get(client);
      if (identity === undefined || topic.charCodeAt(0) === 36 /* $ */ || forward(topic)) return false;
      if (identity.restricted && !topic.startsWith(identity.prefix)) return false;
      let levels = 1;
      for (let at = topic.indexOf('/'); at >= 0; at = topic.indexOf('/', at + 1)) levels++;
      return levels <= maxTopicLevels;
    };
    const handle = aedes.handle;
    aedes.handle = (conn, req) => {
      const client = handle(conn, req);
      installFastPublish(client, fastTopic, sink);
      return client;
    };
  }

  // Last, so that it sees a read before the fast path does; the connection's will is published, as for a malformed packet.
  // A WebSocket connection can be refused twice, by ws for a message and by the parser for a packet's header
  // (mqtt.js writes the header and the payload as separate messages): it is counted and logged once.
  const oversizedConns = new WeakSet<object>();
  const oversized = (conn: object): boolean => {
    if (oversizedConns.has(conn)) return false;
    oversizedConns.add(conn);
    security.oversizedPackets++;
    return true;
  };
  if ((config.maxPacketBytes ?? 0) > 0) {
    limitPacketSizes(aedes, config.maxPacketBytes!, (client, why) => {
      const who = client.id ? `client "${client.id.slice(0, 128)}"` : 'a connection (before its CONNECT)';
      closes.closedBy(client, oversized(client.conn) ? `closed ${who} from ${remoteAddress(client)}: ${why}` : null);
    }, () => log('this aedes has no per-client parser to hook: mqtt.maxPacketBytes is not enforced'));
  }

  const listeners: Listener[] = [];
  const webSockets: WebSocketListener[] = [];
  const closeAedes = () => new Promise<void>((resolve) => aedes.close(() => resolve()));
  try {
    listeners.push(await listenTcp(aedes, config.host, config.port));
    if (config.tlsPort !== undefined && config.tlsPort >= 0) {
      if (config.tls === undefined) throw new ThermostreamError('TS_ERR_TLS', 'MQTT over TLS needs a certificate');
      listeners.push(await listenTls(aedes, config.host, config.tlsPort, config.tls));
    }
  } catch (err) {
    for (const l of listeners) l.stopListening();
    await closeAedes();
    throw err;
  }
  // The devices CLI writes the registry from another process: a device it deletes is disconnected and forgotten, one it
  // disables disconnected, within REGISTRY_SYNC_MS (one deleted and added again at its next CONNECT at the latest).
  const unwatch = registry?.watch((err) => log(`cannot read the device registry for changes made by other processes: ${err.message}`));
  const port = listeners[0].port;
  const tlsPort = listeners[1]?.port ?? null;
  return {
    aedes,
    port,
    url: `mqtt://${urlHost(config.host)}:${port}`,
    get connectedClients() {
      return aedes.connectedClients;
    },
    get listening() {
      return listeners[0].listening;
    },
    tlsPort,
    tlsUrl: tlsPort === null ? null : `mqtts://${urlHost(config.host)}:${tlsPort}`,
    hub,
    attachWebSocket(server) {
      webSockets.push(attachWebSocket(server, aedes, config.maxPacketBytes ?? 0, (conn, from, why) => {
        if (oversized(conn)) log(`closed a WebSocket connection from ${from}: ${why}`);
      }, auth.mode === 'none' ? (from, origin) => log(`refused a WebSocket connection from ${from}: a web page of ${JSON.stringify(origin.slice(0, 128))}, not of this machine, while auth.mode is "none"`) : null));
    },
    stats: () => ({
      ...security,
      authFailures: { total: security.authFailures.total, byReason: { ...security.authFailures.byReason } },
      hub: hub?.stats() ?? null,
    }),
    stopListening() {
      for (const l of listeners) l.stopListening();
    },
    async close() {
      for (const l of listeners) l.stopListening();
      const deadline = Date.now() + FLUSH_TIMEOUT_MS;
      while (listeners.some((l) => [...l.sockets].some((s) => s.writableLength > 0)) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      hub?.close();
      unwatch?.();
      for (const timer of expiries.values()) clock.clearTimeout(timer);
      await closeAedes();
      for (const ws of webSockets) ws.close();
    },
  };
}

export { AuthFailures };
