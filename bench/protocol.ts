/**
 * The messages between a benchmark (the parent, which hosts the server under test) and the load generator
 * (bench/loadgen.ts, a forked child process, so its CPU is not spent on the server's event loop).
 *
 *   parent → child   argv[2]: LoadSpec as JSON
 *   child  → parent  { type: 'ready', buildMs }        connections are up and every packet is pre-built
 *   parent → child   { type: 'go' }                    start publishing
 *   child  → parent  { type: 'done', result }          all processed (or stalled / timed out)
 *   parent → child   { type: 'close' }                 disconnect and exit
 */

export type ClientKind = 'raw' | 'mqttjs';

export interface LoadSpec {
  host: string;
  mqttPort: number;
  /** Polled until `records` reaches `count`: GET → { records, accepted, backlog, lastBatch? }. */
  statsUrl: string;
  connections: number;
  /** Readings in total, spread evenly over the connections. */
  count: number;
  qos: 0 | 1;
  /** QoS 1: unacknowledged publishes allowed per connection. */
  window: number;
  client: ClientKind;
  pollMs: number;
  /** Hard limit on one run, from the first publish. */
  timeLimitMs: number;
  /** Give up once everything is sent and `records` has not moved for this long. */
  stallMs: number;
  /** Device ids are `${idPrefix}${index}` (with devicesPerConnection > 1: `${idPrefix}${index}-${k}`). */
  idPrefix: string;
  /** Devices each connection publishes for, in turn (a gateway); default 1. */
  devicesPerConnection?: number;
  /** Connections opened at a time (default 20). */
  connectBatch?: number;
  /**
   * Paced mode: readings per second over all connections (each connection an equal share, phases staggered), with
   * `ts` stamped at send time. Absent: as fast as the server takes them (QoS 1: within the window).
   */
  ratePerSec?: number;
  /** Latency probe (Thermostream only): follow GET /api/v1/stream for the first `devices` connections' readings. */
  latency?: { streamUrl: string; devices: number; /** readings published in the first warmupMs are not counted */ warmupMs: number };
}

/** Wall-clock ms with sub-ms resolution, comparable between the two processes. */
export const now = (): number => performance.timeOrigin + performance.now();

export interface ServerStats {
  records: number;
  accepted: number;
  backlog: number;
  duplicates?: number;
  late?: number;
  batches?: number;
  rejected?: { total: number; byReason: Record<string, number> };
  lastBatch?: { records: number; processingMs: number; jobMs?: number; commitMs?: number; schedulingDelayMs: number; totalDelayMs: number } | null;
  heldAcks?: number;
  /** Mosquitto's subscriber: when it received its last reading (protocol.ts now()). */
  lastReceivedAt?: number;
}

/** Publish → result latencies of the probed readings, in ms (bench/latency-probe.ts). */
export interface LatencyResult {
  /** Readings of the probed devices that were published (warm-up included). */
  probed: number;
  /** Of them, seen in a window result on the stream. */
  seen: number;
  /** Publish → the window event that first counted the reading arrived on the SSE stream. */
  stream: LatencySummary;
  /** Publish → committedAt of the batch that first counted it (stamped as the batch closes, before its SQLite commit). */
  committed: LatencySummary;
  /** SSE events received. */
  events: number;
  /**
   * The generator's own event-loop delay over the run (ms, p50 / p99 / max): the probe reads the stream on that loop,
   * so a stream latency above the commit's by about this much is the generator's, not the server's.
   */
  loopDelay: { p50: number; p99: number; max: number };
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  count: number;
  /** Publishes written to the sockets. */
  sent: number;
  /** QoS 1: PUBACKs received. QoS 0: publishes flushed to the kernel. */
  acked: number;
  firstPublishAt: number;
  /** When the last PUBACK arrived (QoS 1) or the last byte was handed to the kernel (QoS 0). */
  lastAckAt: number;
  /** First poll that saw accepted >= count (NaN if never). */
  acceptedAt: number;
  /** First poll that saw records >= count (NaN if never). */
  processedAt: number;
  outcome: 'complete' | 'stalled' | 'timeout';
  final: ServerStats | null;
  /** The slowest batch seen while polling (Thermostream only). */
  /** The slowest batch: its readings, its processing time and, of that, decode + job and the store's commit (ms). */
  maxBatch: { records: number; processingMs: number; jobMs?: number; commitMs?: number } | null;
  polls: number;
  /** CPU the load generator used from go to done (user + system, ms). */
  cpuMs: number;
  wallMs: number;
  errors: string[];
  /** Paced mode: the rate actually achieved over the publishing span (readings/s). */
  pacedRate?: number;
  latency?: LatencyResult;
}

export type ChildMessage =
  | { type: 'ready'; buildMs: number; connectMs: number }
  | { type: 'done'; result: LoadResult }
  | { type: 'error'; message: string };
export type ParentMessage = { type: 'go' } | { type: 'close' };

/**
 * One measured run, executed in a fresh server-host process (bench/server-host.ts) so every run starts from a clean
 * heap: peak RSS is that run's, and nothing (heap, JIT state, open handles) carries over between runs.
 */
export type HostJob =
  | { kind: 'thermostream'; scenario: string; round: number; opts: unknown }
  | { kind: 'bare'; qos: 0 | 1; round: number; opts: unknown; mode?: 'map' | 'count' }
  | { kind: 'mosquitto'; qos: 0 | 1; tuned: boolean; round: number; opts: unknown }
  | { kind: 'latency'; round: number; opts: unknown }
  | { kind: 'memory'; target: 'thermostream' | 'thermostream-main' | 'thermostream-v8heap' | 'thermostream-v8young' | 'bare'; round: number; opts: unknown };
