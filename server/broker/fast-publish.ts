import type { Client } from 'aedes';

/**
 * Ingest's side of the telemetry fast path: a connection's PUBLISHes handed over one by one as topic and payload,
 * then acknowledged together.
 */
export interface PublishSink {
  /**
   * Takes one message that arrived at `arrival` (the sink's clock, read once per socket read: now()); false once
   * ingest no longer accepts (shutting down): it must then never be acknowledged.
   */
  take(topic: string, payload: Buffer, arrival: number): boolean;
  /** The sink's clock (epoch ms). */
  now(): number;
  /** Calls `done` once everything taken so far may be acknowledged: stored if `stored` (QoS 1), else accepted (QoS 0). */
  whenTaken(stored: boolean, done: () => void): void;
}

/** What the fast path uses of aedes' Client beyond its typings (aedes 1.x, lib/client.js). */
interface ClientInternals {
  conn: NodeJS.WritableStream & { once(event: 'drain', listener: () => void): unknown };
  connackSent: boolean;
  connected: boolean;
  closed: boolean;
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5; null before CONNECT. */
  version: number | null;
  _parser: { parse(buf: Buffer): unknown };
  /** Packets being handled: the socket is read again once it is 0 (aedes' backpressure). */
  _parsingBatch: number;
  _nextBatch(err?: Error): void;
  _keepaliveInterval: number;
  _keepaliveTimer: { refresh(): void } | null;
}

/**
 * A hold on the connection's reads while the fast packets of one read wait for their acknowledgement. aedes counts
 * the packets it handles in `_parsingBatch` and reads on when the count falls to 0; a 'readable' event that comes
 * meanwhile takes one off too. A hold of one would fall to 0 at the first such event and read past the backpressure;
 * a hold this large cannot, and releasing it gives back what was added less the one `_nextBatch()` takes.
 */
const HOLD = 2 ** 30;
const PUBLISH = 3;
const PUBACK_BYTES = 4;
/** The smallest QoS 1 PUBLISH: fixed header 2, topic length 2, a topic of 1, packet id 2. */
const MIN_QOS1_PUBLISH = 7;

/**
 * Telemetry without aedes' per-packet work. aedes parses every packet into an object (mqtt-packet), runs its
 * handlers, writes each PUBACK on its own and schedules a callback per packet: at ingest rates that, and its
 * garbage, is most of the broker thread's time. This parser takes over the connection's bytes once CONNACK is sent:
 * it frames the packets itself, hands a PUBLISH that `fast(topic, client)` allows (QoS 0 or 1, not retained, MQTT 3.1 or
 * 3.1.1) to `sink` straight from the read buffer, and acknowledges the QoS 1 ones of a read in one write once
 * `sink` says they are stored. Every other packet goes to aedes' own parser whole, in the order it came, so CONNECT,
 * SUBSCRIBE, PINGREQ, the IoT Hub topics, refusals, QoS 2 and malformed packets behave exactly as before.
 * PUBACKs leave in the order of their PUBLISHes ([MQTT-4.6.0-2]), and the socket is not read while a read's
 * acknowledgements wait (the backpressure of ingest.maxBacklog).
 */
export function installFastPublish(client: Client, fast: (topic: string, client: Client) => boolean, sink: PublishSink): boolean {
  const c = client as unknown as ClientInternals;
  const parser = c._parser;
  // A later aedes that reads its sockets differently keeps its own parser: slower, never wrong.
  if (typeof parser?.parse !== 'function' || typeof c._nextBatch !== 'function' || typeof c._parsingBatch !== 'number') return false;
  const reader = new FastReader(client, parser, parser.parse, fast, sink);
  parser.parse = (chunk: Buffer): void => reader.parse(chunk);
  return true;
}

/**
 * PUBACKs of the read being parsed, gathered until they are sealed (copied out): one buffer for every connection,
 * grown to the largest read's worth, instead of one per connection kept for its life. Taken by a read at its first
 * QoS 1 PUBLISH after a seal and given back at the next seal; a read that found it taken (none does today: nothing
 * between two seals parses another read) gathers into a buffer of its own.
 */
let pubackScratch: Uint8Array = new Uint8Array(256);
let pubackScratchTaken = false;

/**
 * One connection's reader: its state in fields and its code shared, so that a connection costs one object and the
 * closure aedes calls, not a closure per step.
 */
class FastReader {
  private readonly c: ClientInternals;
  /** Bytes of a packet not complete yet, and how many bytes the packet needs (0: its header is incomplete too). */
  private partial: Buffer[] | null = null;
  private partialBytes = 0;
  private need = 0;
  /** The last topic's bytes and what they decoded to: a device publishes on one topic, so most packets hit it. */
  private topicBytes: Buffer | null = null;
  private topic = '';
  private topicFast = false;

  constructor(
    private readonly client: Client,
    private readonly parser: ClientInternals['_parser'],
    private readonly slowParse: (buf: Buffer) => unknown,
    private readonly fast: (topic: string, client: Client) => boolean,
    private readonly sink: PublishSink,
  ) {
    this.c = client as unknown as ClientInternals;
  }

  private release(): void {
    this.c._parsingBatch -= HOLD - 1;
    this.c._nextBatch();
  }

  private topicOf(buf: Buffer, from: number, to: number): void {
    const len = to - from;
    const last = this.topicBytes;
    if (last !== null && len === last.length) {
      let k = 0;
      while (k < len && buf[from + k] === last[k]) k++;
      if (k === len) return;
    }
    const bytes = Buffer.from(buf.subarray(from, to));
    this.topicBytes = bytes;
    this.topic = bytes.toString('utf8');
    this.topicFast = this.topic.indexOf('+') < 0 && this.topic.indexOf('#') < 0 && this.fast(this.topic, this.client);
  }

  /** Parses `chunk`, counting the time against this turn's budget (reads its release makes go in with it). */
  private timedParse(chunk: Buffer): void {
    const started = performance.now();
    depth++;
    try {
      this.parseNow(chunk);
    } finally {
      depth--;
      spentMs += performance.now() - started;
    }
  }

  parse(chunk: Buffer): void {
    const c = this.c;
    if (c.closed) return;
    if (depth > 0) return this.parseNow(chunk); // released by a read being parsed: part of its time
    // Before CONNACK, aedes handles a packet only while it holds no other (its queue of early packets): no hold then.
    if ((spentMs < TURN_BUDGET_MS && waiting.length === waitingHead) || !c.connackSent) {
      scheduleTurn();
      return this.timedParse(chunk);
    }
    // Over this turn's budget: the read waits, held, for a later turn, behind the reads waiting already.
    c._parsingBatch += HOLD;
    waiting.push(() => {
      if (!c.closed) this.timedParse(chunk);
      this.release();
    });
    scheduleTurn();
  }

  private parseNow(chunk: Buffer): void {
    const c = this.c;
    const sink = this.sink;
    let buf = chunk;
    if (this.partial !== null) {
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.need) return;
      buf = Buffer.concat(this.partial, this.partialBytes);
      this.partial = null;
      this.partialBytes = 0;
      this.need = 0;
    }
    let held = false;
    let acks = 0;
    const arrival = sink.now(); // the whole read arrived together
    /** Where this read gathers its PUBACKs since the last seal: the shared scratch, or its own; null: none yet. */
    let ids: Uint8Array | null = null;
    let qos1 = false;
    let refused = false;
    /**
     * Acknowledges the QoS 1 PUBACKs gathered so far once `sink` has stored them; the last group of a read also
     * releases the hold, once everything of the read is stored (QoS 1) or accepted (QoS 0 only).
     */
    const seal = (last: boolean): void => {
      let pubacks: Buffer | null = null;
      if (ids !== null) {
        pubacks = acks > 0 ? Buffer.from(ids.subarray(0, acks)) : null;
        if (ids === pubackScratch) pubackScratchTaken = false;
        ids = null;
      }
      acks = 0;
      // Shutting down (refused): what was taken is acknowledged, but the socket is not read again.
      const releases = last && !refused;
      sink.whenTaken(last ? qos1 : true, () => {
        if (pubacks !== null) {
          if (c.closed || !c.connected) return;
          if (!c.conn.write(pubacks)) {
            if (releases) c.conn.once('drain', () => this.release());
            return;
          }
        }
        if (releases) this.release();
      });
    };
    try {
      let at = 0;
      const n = buf.length;
      while (at < n && !c.closed) {
        // Fixed header: the type and flags, then the remaining length in 1–4 bytes of 7 bits.
        let length = 0;
        let multiplier = 1;
        let p = at + 1;
        let complete = false;
        while (p < n && p - at <= 4) {
          const b = buf[p++];
          length += (b & 127) * multiplier;
          multiplier *= 128;
          if (b < 128) {
            complete = true;
            break;
          }
        }
        if (!complete) {
          if (p - at > 4) {
            // Not MQTT: aedes' parser reports the malformed length and closes the connection.
            this.slowParse.call(this.parser, buf.subarray(at));
            at = n;
            break;
          }
          this.need = 0;
          break;
        }
        const end = p + length;
        if (end > n) {
          this.need = end - at;
          break;
        }
        const first = buf[at];
        const qos = (first >> 1) & 3;
        if (first >> 4 === PUBLISH && qos < 2 && (first & 1) === 0 && c.connackSent && (c.version === 3 || c.version === 4) && length >= 2) {
          const topicEnd = p + 2 + ((buf[p] << 8) | buf[p + 1]);
          const payloadAt = topicEnd + qos * 2;
          if (topicEnd > p + 2 && payloadAt <= end) {
            this.topicOf(buf, p + 2, topicEnd);
            if (this.topicFast) {
              if (!held) {
                c._parsingBatch += HOLD;
                held = true;
              }
              if (!sink.take(this.topic, buf.subarray(payloadAt, end), arrival)) refused = true;
              else if (qos === 1) {
                if (ids === null) {
                  // Room for the rest of the read: each QoS 1 PUBLISH taken here spans MIN_QOS1_PUBLISH bytes at least.
                  const size = PUBACK_BYTES * Math.ceil(n / MIN_QOS1_PUBLISH);
                  if (!pubackScratchTaken) {
                    if (pubackScratch.length < size) pubackScratch = new Uint8Array(size);
                    pubackScratchTaken = true;
                    ids = pubackScratch;
                  } else ids = new Uint8Array(size);
                }
                ids[acks] = 0x40;
                ids[acks + 1] = 2;
                ids[acks + 2] = buf[topicEnd];
                ids[acks + 3] = buf[topicEnd + 1];
                acks += PUBACK_BYTES;
                qos1 = true;
              }
              at = end;
              continue;
            }
          }
        }
        // aedes acknowledges a QoS 1 packet it handles as soon as ingest has stored it: the fast ones before it go first.
        if (acks > 0) seal(false);
        this.slowParse.call(this.parser, buf.subarray(at, end));
        at = end;
      }
      if (at < n && !c.closed) {
        // Keep the incomplete packet's bytes (copied: the read buffer is not ours to keep).
        const rest = Buffer.from(buf.subarray(at));
        this.partial = [rest];
        this.partialBytes = rest.length;
      }
      if (!held) return; // nothing taken: no PUBACK gathered either
      if (c._keepaliveInterval > 0) c._keepaliveTimer?.refresh();
      seal(true);
    } catch (err) {
      // Neither the sink nor aedes' parser throws by design; if one did, the shared buffer must not stay taken.
      if (ids === pubackScratch) pubackScratchTaken = false;
      throw err;
    }
  }
}

/**
 * Fairness between connections, and between the broker and the rest of the event loop. In one poll phase libuv hands
 * over every socket that has data, up to 32 reads each: under a flood on a thousand connections that was seconds of
 * parsing in which no timer ran (no block reached the batch thread, no batch was cut, no group commit was written).
 * Once a turn of the event loop has spent TURN_BUDGET_MS parsing, a further read waits, held (its socket is not
 * read meanwhile), and the waiting reads are parsed oldest first in later turns, TURN_BUDGET_MS a turn.
 */
const TURN_BUDGET_MS = 20;
let spentMs = 0;
/** > 0 while a read is being parsed: a read its acknowledgement releases at once belongs to it. */
let depth = 0;
let turnScheduled = false;
let waiting: (() => void)[] = [];
let waitingHead = 0;

function scheduleTurn(): void {
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(nextTurn);
}

function nextTurn(): void {
  turnScheduled = false;
  spentMs = 0;
  while (waitingHead < waiting.length && spentMs < TURN_BUDGET_MS) waiting[waitingHead++]();
  if (waitingHead === waiting.length) {
    waiting = [];
    waitingHead = 0;
  } else scheduleTurn();
}

