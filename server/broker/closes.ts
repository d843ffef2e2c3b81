import type { Aedes, Client, ConnectPacket } from 'aedes';
import type { Clock } from '../clock.ts';

/** Refusals logged per minute at most; past that they are only counted, and the number left out is logged once. */
const LOG_PER_MINUTE = 60;

/** A flood of bad logins must not become a flood of log lines. */
export function limitLog(log: (line: string) => void, clock: Clock): (line: string) => void {
  let windowStart = -Infinity;
  let written = 0;
  let suppressed = 0;
  return (line) => {
    const now = clock.now();
    if (now - windowStart >= 60_000) {
      if (suppressed > 0) log(`${suppressed} more refusals in the last minute were not logged (see security in /api/v1/stats)`);
      windowStart = now;
      written = 0;
      suppressed = 0;
    }
    if (written++ < LOG_PER_MINUTE) log(line);
    else suppressed++;
  };
}

/**
 * The address a client connected from: its socket's (listen.ts keeps it past a close), or the HTTP request's for a
 * WebSocket (whose own stream has none).
 */
export function remoteAddress(client: Client): string {
  const conn = client.conn as { remoteAddress?: string } | undefined;
  return conn?.remoteAddress ?? client.req?.socket.remoteAddress ?? (client.req !== undefined ? 'a WebSocket' : 'an unknown address');
}

/**
 * How the broker tells of the connections it closes: one log line each, naming the client (before aedes names it,
 * the client id its CONNECT gave) and its address, and why. The broker logs its own refusals (a login, a QoS 2
 * publish, an oversized packet) and marks the client (closedBy()): aedes then reports the same close as an error,
 * which is not logged again. The other errors aedes reports (a protocol violation, a missed keep-alive, a malformed
 * first packet, no CONNECT in time, too many packets before CONNACK) are logged as aedes words them; socket errors
 * (a reset) are not logged.
 */
export class ConnectionCloses {
  private readonly logged = new WeakSet<Client>();
  /** The client id each connection's CONNECT gave (until aedes sets client.id), and where it came from. */
  private readonly connecting = new WeakMap<Client, { id: string; from: string }>();

  /** `maxPacketsBeforeConnack`: aedes' queueLimit, to name in the log; `onQueueLimit` counts such a close. */
  constructor(
    private readonly log: (line: string) => void,
    private readonly maxPacketsBeforeConnack: number,
    private readonly onQueueLimit: () => void,
  ) {}

  /**
   * aedes' preConnect hook. The CONNECT is handled before the packets behind it are queued; aedes names the client
   * only later (an error meanwhile is a 'connectionError' without an id) and destroys the socket (and its address)
   * before it reports one, so both are kept for the log until the CONNACK.
   */
  readonly preConnect = (client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void): void => {
    this.connecting.set(client, { id: packet.clientId, from: remoteAddress(client) });
    callback(null, true);
  };

  /**
   * The broker closes `client` and tells why itself: logs `line` (null: already told) and marks the client, so that
   * aedes' error about the close is not logged.
   */
  closedBy(client: Client, line: string | null): void {
    this.logged.add(client);
    if (line !== null) this.log(line);
  }

  /** Logs the closes aedes reports. */
  listen(aedes: Aedes): void {
    aedes.on('clientError', (client, err) => {
      if ((err as NodeJS.ErrnoException).code !== undefined || this.logged.has(client)) return;
      this.log(`closed client "${client.id}": ${err.message}`);
    });
    aedes.on('connectionError', (client, err) => {
      if ((err as NodeJS.ErrnoException).code !== undefined || this.logged.has(client)) return;
      this.logged.add(client); // every packet past the limit in the same read errs again
      const { id, from } = this.connecting.get(client) ?? { id: client.id ?? '', from: remoteAddress(client) };
      const who = `${id ? `client "${id.slice(0, 128)}"` : 'a connection'} from ${from}`;
      if (err.message !== 'Client queue limit reached') return this.log(`closed ${who} before its CONNACK: ${err.message}`);
      this.onQueueLimit();
      this.log(`closed ${who}: more than ${this.maxPacketsBeforeConnack} packets before its CONNACK`);
    });
    // Past its CONNACK a connection's packets are no longer queued: what the log would name is not kept for its life.
    aedes.on('connackSent', (_packet, client) => this.connecting.delete(client));
  }
}
