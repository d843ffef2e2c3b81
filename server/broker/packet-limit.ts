import type { Aedes, Client } from 'aedes';
import type { Config } from '../config.ts';

/**
 * Room in a packet besides its payload, 64 KB: the fixed header (5), the topic's length (2), the packet id (2) and a
 * topic of up to 65,527 bytes (MQTT allows 65,535; no device id comes near).
 */
export const PACKET_OVERHEAD_BYTES = 65_536;

/**
 * mqtt.maxPacketBytes, or by default what a payload of ingest.maxPayloadBytes on any topic needs: a larger payload up
 * to there is dead-lettered (payload_too_large), a larger packet closes its connection. 0: no limit (MQTT's 256 MB).
 */
export function mqttMaxPacketBytes(config: Pick<Config, 'mqtt' | 'ingest'>): number {
  return config.mqtt.maxPacketBytes ?? config.ingest.maxPayloadBytes + PACKET_OVERHEAD_BYTES;
}

/**
 * Refuses a packet larger than `maxBytes` (fixed header included) as soon as its fixed header announces it, as
 * Mosquitto's max_packet_size does: `refuse` is called with the packet's size, and nothing of the read that holds
 * it is parsed. aedes has no such limit: its parser (mqtt-packet) buffers every packet whole, up to MQTT's 256 MB,
 * before it looks at it, so one connection could make the broker hold that much. This reads only the fixed headers
 * of the bytes going to the connection's parser (`client._parser.parse`, the seam the telemetry fast path uses as
 * well), skipping each packet's body; false when that seam is missing (a later aedes), and nothing is limited.
 */
export function limitPacketSize(client: Client, maxBytes: number, refuse: (packetBytes: number, client: Client) => void): boolean {
  const parser = (client as unknown as { _parser?: { parse?(buf: Buffer): unknown } })._parser;
  if (parser === undefined || typeof parser.parse !== 'function') return false;
  const limit = new PacketLimit(client, parser as { parse(buf: Buffer): unknown }, parser.parse, maxBytes, refuse);
  parser.parse = (chunk: Buffer): unknown => limit.parse(chunk);
  return true;
}

/**
 * One connection's fixed-header reader: its state in fields, its code shared (a connection costs one object and the
 * closure above, not a closure per step).
 */
class PacketLimit {
  /** Bytes of the current packet's body not read yet. */
  private body = 0;
  /** Bytes of the current packet's fixed header read so far (0: between packets). */
  private header = 0;
  private length = 0;
  private multiplier = 1;
  /** A malformed length (over 4 bytes): aedes' parser refuses it; nothing is counted any more. */
  private lost = false;
  private refused = false;

  constructor(
    private readonly client: Client,
    private readonly parser: { parse(buf: Buffer): unknown },
    private readonly next: (buf: Buffer) => unknown,
    private readonly maxBytes: number,
    private readonly refuse: (packetBytes: number, client: Client) => void,
  ) {}

  parse(chunk: Buffer): unknown {
    if (this.refused) return undefined;
    const n = chunk.length;
    let i = 0;
    /** Where the packet being read starts in this chunk (0: in an earlier one). */
    let start = 0;
    while (i < n && !this.lost) {
      if (this.body > 0) {
        const take = Math.min(this.body, n - i);
        this.body -= take;
        i += take;
        continue;
      }
      if (this.header === 0) {
        start = i;
        this.header = 1; // the type and flags
        this.length = 0;
        this.multiplier = 1;
        i++;
        continue;
      }
      const b = chunk[i++];
      this.header++;
      this.length += (b & 127) * this.multiplier;
      this.multiplier *= 128;
      if (b >= 128) {
        if (this.header > 4) this.lost = true;
        continue;
      }
      if (this.header + this.length > this.maxBytes) {
        // The packets before it in this read are taken, as Mosquitto takes them: only the connection's rest is lost.
        if (start > 0) this.next.call(this.parser, chunk.subarray(0, start));
        this.refused = true;
        this.refuse(this.header + this.length, this.client);
        return undefined;
      }
      this.body = this.length;
      this.header = 0;
    }
    return this.next.call(this.parser, chunk);
  }
}

/**
 * Every connection aedes takes from now on (aedes.handle, which the listeners call) is closed at its first packet over
 * `maxBytes`, as Mosquitto does: after `refused(client, why)`, the client errs as for a malformed packet (aedes
 * destroys the socket and publishes the will). The other connections go on.
 */
export function limitPacketSizes(aedes: Aedes, maxBytes: number, refused: (client: Client, why: string) => void, unavailable: () => void): void {
  const handle = aedes.handle;
  let said = false;
  // One function for every connection: it is told which one (a closure per connection would hold it as long).
  const refuse = (bytes: number, client: Client): void => {
    const why = `a packet of ${bytes} bytes, over mqtt.maxPacketBytes = ${maxBytes}`;
    refused(client, why);
    (client as unknown as NodeJS.EventEmitter).emit('error', new Error(why));
  };
  aedes.handle = (conn, req) => {
    const client = handle(conn, req);
    const limited = limitPacketSize(client, maxBytes, refuse);
    if (!limited && !said) {
      said = true;
      unavailable();
    }
    return client;
  };
}
