import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket, { type IConnackPacket, type IPublishPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import { Backoff, QUICK_LOSSES, STABLE_MS } from './backoff.ts';
import { ThermostreamError } from '../errors.ts';
import { redactUrl } from '../url.ts';
import { recordSession, subscriptionsToMake, type BrokerSession } from './broker-session.ts';
import { brokerUrlParts, type BrokerTarget } from './url.ts';
import type { OnPublish } from './index.ts';

export interface ExternalBrokerConfig {
  /** mqtt://[user:pass@]host[:port] or mqtts://… */
  url: string;
  /** Stable: the broker keeps this client's session (subscriptions, undelivered QoS 1 messages) under it. */
  clientId: string;
  username: string;
  password: string;
  topics: readonly string[];
  /** Non-empty: subscribe as `$share/{shareGroup}/{topic}`, so instances of one group share the messages. */
  shareGroup: string;
  keepaliveSec: number;
  /** How long start-up waits for the first connection (and reconnects for each attempt). */
  connectTimeoutMs: number;
  /** Messages handed to ingest and not yet acknowledged beyond which the socket stops being read (backpressure). */
  maxPending: number;
}

export interface ExternalBrokerDeps {
  onPublish: OnPublish;
  log: (message: string) => void;
  /**
   * Where the subscriptions made in the broker's session are recorded (the data dir): a resumed session whose
   * record matches is not subscribed again. Without it, every connect subscribes.
   */
  sessionFile?: string;
}

export interface ExternalBroker {
  /** The broker's URL without credentials. */
  readonly url: string;
  /** The topic filters subscribed to (with the $share prefix when a group is set). */
  readonly subscriptions: readonly string[];
  readonly connected: boolean;
  /** Taking input: connected to the broker and not stopped (what /readyz checks). */
  readonly listening: boolean;
  /** Devices connect to the external broker, not here: always 0. */
  readonly connectedClients: number;
  /** Stops taking messages (they stay with the broker, in this client's session); acknowledgements still go out. */
  stopListening(): void;
  /** Lets the acknowledgements reach the broker, then disconnects; the session (and its queue) stays on the broker. */
  close(): Promise<void>;
}

const PROTOCOL = { protocolId: 'MQTT', protocolVersion: 4 } as const; // MQTT 3.1.1
const FLUSH_TIMEOUT_MS = 2000;
/** CONNACK return codes, [MQTT-3.2.2.3]. */
const REFUSED: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected (broker.clientId)',
  3: 'server unavailable',
  4: 'bad user name or password (broker.username, broker.password)',
  5: 'not authorized (a wrong or missing user name or password, or this client id not allowed)',
};

/** Parses broker.url, naming the key and the value when it is not a usable MQTT URL. */
export function parseBrokerUrl(raw: string): BrokerTarget {
  const parts = brokerUrlParts(raw);
  if (typeof parts === 'string') {
    throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `invalid configuration: broker.url = ${JSON.stringify(redactUrl(raw))}: ${parts}`);
  }
  return parts;
}

/**
 * Instead of embedding aedes: Thermostream as a subscriber of an external broker (Mosquitto, EMQX…), in a persistent
 * session (clean session off, a stable client id) at QoS 1. Each message is acknowledged only once ingest has made it
 * durable — or, with broker.ackAfterCommit, once its batch is committed in the store (ingest decides when to call
 * back) — so a crash loses nothing the broker delivered: what was not acknowledged is delivered again.
 *
 * Built on mqtt-packet (the parser and generator under MQTT.js and aedes) rather than MQTT.js' client: MQTT.js
 * handles received packets one at a time and sends the PUBACK before it takes the next one, so holding the PUBACK
 * for the durable log's group commit would let one message through per fsync. Here every message received goes to
 * ingest at once and the PUBACKs follow the group commits, in order.
 */
export async function createExternalBroker(config: ExternalBrokerConfig, deps: ExternalBrokerDeps): Promise<ExternalBroker> {
  const target = parseBrokerUrl(config.url);
  const subscriptions = config.topics.map((t) => (config.shareGroup ? `$share/${config.shareGroup}/${t}` : t));
  const username = config.username || target.username;
  const password = config.password || target.password;
  let current: Connection | null = null;
  let closing = false;
  let listening = true;
  const backoff = new Backoff();
  let reconnectTimer: NodeJS.Timeout | undefined;

  const open = (): Promise<Connection> =>
    new Promise((resolve, reject) => {
      const conn = new Connection(config, deps, subscriptions, username, password, target);
      conn.onReady = () => resolve(conn);
      conn.onFail = (err) => reject(err);
      conn.onClose = (why) => {
        if (current !== conn) return;
        current = null;
        if (closing) return;
        const quickly = backoff.lost();
        deps.log(`external broker ${target.display} lost (${why}); reconnecting in ${backoff.nextMs} ms`);
        if (quickly) {
          deps.log(
            `external broker ${target.display} closed this connection ${QUICK_LOSSES} times in a row within ${STABLE_MS / 1000} s of accepting it: ` +
              `is another client connected with the client id ${JSON.stringify(config.clientId)}? A broker gives the session to the ` +
              'newest connection with an id, so two take it from each other (two servers with the same broker.clientId, or ' +
              '--broker-client-id): give each its own',
          );
        }
        scheduleReconnect();
      };
      conn.start();
    });

  /** Tries again after the backoff's delay until a connection is up. */
  const scheduleReconnect = (): void => {
    reconnectTimer = setTimeout(() => {
      open().then(
        (conn) => {
          if (closing) return void conn.end();
          current = conn;
          backoff.up();
          if (!listening) conn.pause();
          deps.log(`external broker ${target.display} reconnected (session ${conn.sessionPresent ? 'resumed' : 'new'})`);
        },
        (err: Error) => {
          if (closing) return;
          deps.log(`external broker ${target.display}: ${err.message}; retrying in ${backoff.nextMs} ms`);
          scheduleReconnect();
        },
      );
    }, backoff.take());
  };

  try {
    current = await open();
    backoff.up();
  } catch (err) {
    throw new ThermostreamError(
      'TS_ERR_BROKER_CONNECT',
      `cannot subscribe at the external broker ${target.display} (--broker): ${(err as Error).message}`,
    );
  }

  return {
    url: target.display,
    subscriptions,
    get connected() {
      return current !== null;
    },
    get listening() {
      return listening && current !== null;
    },
    connectedClients: 0,
    stopListening() {
      listening = false;
      current?.pause();
    },
    async close() {
      closing = true;
      clearTimeout(reconnectTimer);
      await current?.end();
      current = null;
    },
  };
}

/** Node's codes for a server certificate that no trusted CA signed (a private CA, as Mosquitto's often is). */
const UNTRUSTED_CERT = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);
const UNTRUSTED_HINT = "no CA this machine trusts signed the broker's certificate: add the broker's CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem";

/**
 * One TCP (or TLS) connection to the broker: CONNECT, SUBSCRIBE, then PUBLISHes in and PUBACKs out.
 * [MQTT-4.6.0-2] PUBACKs go out in the order the PUBLISHes came in; ingest acknowledges in that order too (its group
 * commits complete in order), so one FIFO of packet ids and one bound callback serve every message: no closure per
 * message. A callback of a connection that has gone does nothing: its packet ids mean nothing on the next one.
 */
class Connection {
  onReady: () => void = () => {};
  onFail: (err: Error) => void = () => {};
  onClose: (why: string) => void = () => {};
  sessionPresent = false;

  private socket!: Socket;
  private readonly parser = mqttPacket.parser(PROTOCOL);
  private state: 'connecting' | 'subscribing' | 'ready' | 'closed' = 'connecting';
  private connectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private paused = false;
  /** Packet ids of QoS 1 messages handed to ingest, not yet acknowledged: a queue from `head`. */
  private ids: number[] = [];
  private head = 0;
  /** Messages (any QoS) handed to ingest whose done() has not come yet. */
  private pending = 0;

  constructor(
    private readonly config: ExternalBrokerConfig,
    private readonly deps: ExternalBrokerDeps,
    private readonly subscriptions: readonly string[],
    private readonly username: string,
    private readonly password: string,
    private readonly target: { tls: boolean; host: string; port: number; display: string },
  ) {}

  start(): void {
    const { host, port, tls } = this.target;
    // SNI takes a host name, never an address.
    this.socket = tls ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) }) : netConnect({ host, port });
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.fail(new Error(`no answer within ${this.config.connectTimeoutMs} ms`)), this.config.connectTimeoutMs);
    this.socket.once(tls ? 'secureConnect' : 'connect', () => {
      this.send({
        cmd: 'connect',
        ...PROTOCOL,
        clientId: this.config.clientId,
        clean: false, // a persistent session: the broker queues QoS 1 messages while we are away
        keepalive: this.config.keepaliveSec,
        ...(this.username ? { username: this.username } : {}),
        ...(this.password ? { password: Buffer.from(this.password) } : {}),
      });
    });
    this.socket.on('data', (chunk: Buffer) => this.parser.parse(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      const untrusted = UNTRUSTED_CERT.has(err.code ?? '') ? `; ${UNTRUSTED_HINT}` : '';
      this.fail(new Error(err.code ? `${err.code} (${err.message}${untrusted})` : err.message));
    });
    this.socket.on('close', () => this.fail(new Error('connection closed by the broker')));
    this.parser.on('packet', (packet: Packet) => this.handle(packet));
    this.parser.on('error', (err: Error) => this.fail(new Error(`malformed packet from the broker: ${err.message}`)));
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  /** Waits for written acknowledgements to leave, then DISCONNECTs: the session stays on the broker. */
  async end(): Promise<void> {
    if (this.state === 'closed') return;
    this.flushAcks();
    const deadline = Date.now() + FLUSH_TIMEOUT_MS;
    while (this.socket.writableLength > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.state = 'closed';
    this.stopTimers();
    this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    const timer = setTimeout(() => this.socket.destroy(), FLUSH_TIMEOUT_MS);
    await closed;
    clearTimeout(timer);
  }

  private handle(packet: Packet): void {
    switch (packet.cmd) {
      case 'publish':
        return this.publish(packet);
      case 'connack':
        return this.connack(packet);
      case 'suback':
        return this.suback(packet);
      case 'pingresp':
        this.awaitingPong = false;
        return;
      default:
        return; // nothing else is expected of a broker by a pure subscriber
    }
  }

  private connack(packet: IConnackPacket): void {
    const code = packet.returnCode ?? 0;
    if (code !== 0) {
      // Who we were: Mosquitto answers "not authorized" for a wrong password and for none at all alike.
      const as = this.username
        ? ` as user ${JSON.stringify(this.username)}${this.password ? '' : ' without a password'}`
        : code === 4 || code === 5 ? ' without a user name (broker.username and broker.password, or the URL\'s mqtt://user:password@…)' : '';
      return this.fail(new Error(`the broker refused the connection${as}: ${REFUSED[code] ?? `return code ${code}`}`));
    }
    this.sessionPresent = packet.sessionPresent;
    // broker-session.ts: a resumed session with the subscriptions it was last acknowledged is not subscribed again.
    const { subscribe, stale } = subscriptionsToMake(this.deps.sessionFile, packet.sessionPresent, this.session());
    if (!subscribe) return this.ready();
    if (stale.length > 0) this.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: stale });
    this.state = 'subscribing';
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: this.subscriptions.map((topic) => ({ topic, qos: 1 as const })) });
  }

  private suback(packet: ISubackPacket): void {
    const refused = (packet.granted as number[]).flatMap((g, i) => (g === 0x80 ? [this.subscriptions[i]] : []));
    if (refused.length > 0) return this.fail(new Error(`the broker refused the subscription to ${refused.join(', ')}`));
    if (this.deps.sessionFile !== undefined) {
      try {
        recordSession(this.deps.sessionFile, this.session());
      } catch (err) {
        // Not fatal: the next connect subscribes again (and the broker re-sends its retained copies).
        this.deps.log(`cannot record the subscriptions in ${this.deps.sessionFile}: ${(err as Error).message}`);
      }
    }
    this.ready();
  }

  private session(): BrokerSession {
    return { broker: this.target.display, clientId: this.config.clientId, subscriptions: [...this.subscriptions] };
  }

  private ready(): void {
    this.state = 'ready';
    clearTimeout(this.connectTimer);
    this.pingTimer = setInterval(() => this.ping(), this.config.keepaliveSec * 1000);
    this.onReady();
  }

  private publish(packet: IPublishPacket): void {
    // A resumed session's queued messages come right after the CONNACK, before the SUBACK: they count as well.
    if (this.state === 'connecting' || this.state === 'closed') return;
    this.pending++;
    if (packet.qos === 0) {
      this.deps.onPublish(this.config.clientId, packet as Parameters<OnPublish>[1], this.acceptedQos0);
    } else {
      // A QoS 2 message (the broker downgrades to the subscription's QoS 1; a misbehaving one might not) is
      // acknowledged as QoS 1 would be: ingest has it, the rest of the QoS 2 exchange is the broker's.
      this.ids.push(packet.messageId!);
      this.deps.onPublish(this.config.clientId, packet as Parameters<OnPublish>[1], this.durable);
    }
    if (this.pending > this.config.maxPending && !this.socket.isPaused()) this.socket.pause();
  }

  private readonly acceptedQos0 = (): void => {
    this.released();
  };

  private readonly durable = (): void => {
    if (this.state === 'closed') return;
    const messageId = this.ids[this.head++];
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
    // PUBACK [MQTT-3.4]: 0x40, remaining length 2, the packet id. A group commit acknowledges many messages in one
    // go: they leave in one write.
    if (this.acksLength + 4 > this.acks.length) this.acks = Buffer.concat([this.acks.subarray(0, this.acksLength), Buffer.alloc(this.acks.length)]);
    this.acks[this.acksLength] = 0x40;
    this.acks[this.acksLength + 1] = 2;
    this.acks.writeUInt16BE(messageId, this.acksLength + 2);
    this.acksLength += 4;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushAcks);
    }
    this.released();
  };

  private acks = Buffer.alloc(4096);
  private acksLength = 0;
  private flushScheduled = false;
  private readonly flushAcks = (): void => {
    this.flushScheduled = false;
    if (this.state === 'closed' || this.acksLength === 0) return;
    this.socket.write(Buffer.from(this.acks.subarray(0, this.acksLength)));
    this.acksLength = 0;
  };

  private released(): void {
    this.pending--;
    if (!this.paused && this.socket.isPaused() && this.pending <= this.config.maxPending / 2) this.socket.resume();
  }

  private ping(): void {
    if (this.awaitingPong) return this.fail(new Error(`no PINGRESP within ${this.config.keepaliveSec} s`));
    this.awaitingPong = true;
    this.send({ cmd: 'pingreq' });
  }

  private send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  private fail(err: Error): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    this.stopTimers();
    this.socket.destroy();
    if (wasReady) this.onClose(err.message);
    else this.onFail(err);
  }

  private stopTimers(): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.pingTimer);
  }
}
