/**
 * Publish → result latency, measured in the load generator's process (bench/loadgen.ts) on one clock.
 *
 * The generator stamps each probed reading's `ts` with the time it writes it (paced mode), and records that time.
 * The probe follows GET /api/v1/stream (kind=window,batch, only the probed devices). A window event for device d
 * with start s and count c says: the first c readings of d with ts ≥ s are in the results (a device's readings
 * arrive in order on its one connection, and ts never decreases along it), so every reading of d up to that index
 * is visible now. Its latencies:
 *   stream     = arrival of the first window event that counts it − its publish time
 *   committed  = committedAt of that event's batch (the batch event that follows, server clock; stamped as the batch
 *                closes, before its SQLite commit) − its publish time
 * Both clocks are this machine's wall clock (Date.now in the server, performance.timeOrigin + now() here).
 */
import { get, type ClientRequest } from 'node:http';
import { now, type LatencyResult, type LatencySummary } from './protocol.ts';

interface ProbeDevice {
  /** Stamped ts (epoch ms) and publish time of reading i (index = seq − 1). */
  ts: Float64Array;
  pubAt: Float64Array;
  sent: number;
  /** Readings [0, visible) have been seen in a result. */
  visible: number;
  stream: Float64Array;
  committed: Float64Array;
}

export class LatencyProbe {
  private readonly devices = new Map<string, ProbeDevice>();
  private readonly order: ProbeDevice[] = [];
  /** Batch → ranges made visible by its window events, waiting for its batch event (committedAt). */
  private readonly pending = new Map<number, [ProbeDevice, number, number][]>();
  private req: ClientRequest | null = null;
  private events = 0;
  private buf = '';
  private errors: string[];

  constructor(ids: readonly string[], sizes: readonly number[], errors: string[]) {
    this.errors = errors;
    ids.forEach((id, i) => {
      const n = sizes[i];
      const d: ProbeDevice = {
        ts: new Float64Array(n),
        pubAt: new Float64Array(n),
        sent: 0,
        visible: 0,
        stream: new Float64Array(n).fill(NaN),
        committed: new Float64Array(n).fill(NaN),
      };
      this.devices.set(id, d);
      this.order.push(d);
    });
  }

  /** Opens the stream; resolves once the server answered 200. */
  open(streamUrl: string): Promise<void> {
    const url = new URL(streamUrl);
    url.searchParams.set('kind', 'window,batch');
    url.searchParams.set('deviceId', [...this.devices.keys()].join(','));
    return new Promise((resolve, reject) => {
      this.req = get(url, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream: HTTP ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.onData(chunk));
        res.on('error', () => {});
        resolve();
      });
      this.req.on('error', (err) => {
        if (this.errors.length < 20) this.errors.push(`stream: ${err.message}`);
        reject(err);
      });
    });
  }

  /** Reading `i` of probed device number `dev` was written at `at` with ts `ts`. */
  stamp(dev: number, i: number, ts: number, at: number): void {
    const d = this.order[dev];
    d.ts[i] = ts;
    d.pubAt[i] = at;
    d.sent = i + 1;
  }

  get probed(): number {
    let n = 0;
    for (const d of this.order) n += d.sent;
    return n;
  }

  get seen(): number {
    let n = 0;
    for (const d of this.order) n += d.visible;
    return n;
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let end: number;
    while ((end = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      let event = '';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data = line.slice(6);
      }
      if (event === '' || data === '') continue;
      this.events++;
      const t = now();
      const e = JSON.parse(data) as { batch: number; deviceId?: string; start?: string; count?: number; committedAt?: string };
      if (event === 'window') this.onWindow(e.batch, e.deviceId!, Date.parse(e.start!), e.count!, t);
      else if (event === 'batch') this.onBatch(e.batch, Date.parse(e.committedAt!));
    }
  }

  private onWindow(batch: number, deviceId: string, start: number, count: number, t: number): void {
    const d = this.devices.get(deviceId);
    if (d === undefined) return;
    // First reading with ts ≥ start (ts is non-decreasing along a device's readings).
    let lo = 0;
    let hi = d.sent;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (d.ts[mid] < start) lo = mid + 1;
      else hi = mid;
    }
    const upto = Math.min(d.sent, lo + count);
    if (upto <= d.visible) return;
    for (let i = d.visible; i < upto; i++) d.stream[i] = t - d.pubAt[i];
    let list = this.pending.get(batch);
    if (list === undefined) this.pending.set(batch, (list = []));
    list.push([d, d.visible, upto]);
    d.visible = upto;
  }

  private onBatch(batch: number, committedAt: number): void {
    const list = this.pending.get(batch);
    if (list === undefined) return;
    this.pending.delete(batch);
    for (const [d, from, to] of list) for (let i = from; i < to; i++) d.committed[i] = committedAt - d.pubAt[i];
  }

  /** Latencies of the readings published at or after `from` (the warm-up before it is left out). */
  result(from = -Infinity): Omit<LatencyResult, 'loopDelay'> {
    const stream: number[] = [];
    const committed: number[] = [];
    for (const d of this.order) {
      for (let i = 0; i < d.sent; i++) {
        if (d.pubAt[i] < from) continue;
        if (!Number.isNaN(d.stream[i])) stream.push(d.stream[i]);
        if (!Number.isNaN(d.committed[i])) committed.push(d.committed[i]);
      }
    }
    return { probed: this.probed, seen: this.seen, stream: summarise(stream), committed: summarise(committed), events: this.events };
  }

  close(): void {
    this.req?.destroy();
  }
}

function summarise(xs: number[]): LatencySummary {
  if (xs.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const s = Float64Array.from(xs).sort();
  const q = (p: number): number => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] };
}
