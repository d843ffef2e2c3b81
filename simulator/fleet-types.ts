/** The simulator library's public shapes: counters, progress, the run summary, and the fleet handle. */
import type { AnomalyType } from './anomalies.ts';
import type { BadKind } from './faults.ts';
import type { ResolvedOptions } from './options.ts';

export interface FleetCounters {
  /** Readings produced by the model (a dropout produces none). */
  generated: number;
  /** Valid reading copies handed to the transport (duplicates count again). */
  sent: number;
  /** Of those, acknowledged by the broker (QoS 1) or written to the socket (QoS 0). */
  acknowledged: number;
  /** Valid reading copies whose publish failed (connection closed before the ack). */
  failed: number;
  /** Valid reading copies never handed over because the run was stopped while the broker was unreachable. */
  unsent: number;
  /** Malformed messages sent (--bad-fraction). */
  badSent: number;
  /** MQTT publishes (messages) handed to the transport. */
  messages: number;
  /** Publishes that completed with an error. */
  errors: number;
}

export interface Injected {
  late: number;
  duplicate: number;
  bad: Record<BadKind, number>;
  anomalies: Record<AnomalyType, number>;
}

export interface Progress extends FleetCounters {
  elapsedMs: number;
  inFlight: number;
  /** Readings waiting for their delivery time (late, duplicate). */
  delayed: number;
  connected: number;
  reconnects: number;
}

export interface Summary {
  ok: boolean;
  devices: number;
  transport: string;
  url: string | undefined;
  qos: 0 | 1;
  connections: number;
  generated: number;
  sent: number;
  acknowledged: number;
  /** sent − acknowledged + unsent: readings that did not make it. */
  lost: number;
  errors: number;
  messages: number;
  badSent: number;
  reconnects: number;
  injected: Injected;
  /** Wall-clock ms from the first reading to the last one generated. */
  durationMs: number;
  /** Wall-clock ms including connect and drain. */
  totalMs: number;
  /** generated / duration, readings/s. */
  achievedRate: number;
  firstTs: string | undefined;
  lastTs: string | undefined;
}

export interface Fleet {
  readonly options: ResolvedOptions;
  readonly deviceIds: readonly string[];
  readonly counters: Readonly<FleetCounters>;
  progress(): Progress;
  /** Connects, runs until the count/duration is reached or stop() is called, drains, closes. Rejects if it cannot connect. */
  run(): Promise<Summary>;
  /** Ends generation; run() then sends what is pending, drains and resolves. */
  stop(): void;
}

export interface FleetDeps {
  /** Wall clock, epoch ms. */
  now?: () => number;
}
