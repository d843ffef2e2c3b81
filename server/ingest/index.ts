import type { PublishPacket } from 'aedes';
import type { OnPublish } from '../broker/index.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../engine/clock.ts';
import type { RejectReason } from '../errors.ts';
import { decodeMessage, type DecodeSink } from './decode.ts';
import { Dedupe } from './dedupe.ts';
import type { Reading } from './reading.ts';

export type { Reading } from './reading.ts';

export interface DeadLetter {
  receivedAt: number;
  deviceId: string | null;
  topic: string;
  reason: RejectReason;
  detail: string;
  /** The raw payload as UTF-8, truncated to ingest.deadLetterPayloadChars. */
  payload: string;
  payloadBytes: number;
}

/** What arrived since the last batch was cut. */
export interface IngestBatch {
  readings: Reading[];
  deadLetters: DeadLetter[];
  duplicates: number;
}

export interface IngestStats {
  accepted: number;
  duplicates: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  /** Readings accepted but not yet taken by the engine. */
  backlog: number;
}

export interface Ingest {
  /** The broker's publish hook. */
  readonly onPublish: OnPublish;
  /** Cuts the batch: everything accepted since the previous call. */
  takeBatch(): IngestBatch;
  stats(): IngestStats;
  close(): Promise<void>;
}

export interface IngestDeps {
  clock: Clock;
}

/**
 * Decode + validate → dedupe → append to the current batch → acknowledge.
 * Per reading: one JSON decode and one array push; nothing is awaited.
 */
export async function createIngest(config: Config, deps: IngestDeps): Promise<Ingest> {
  const { clock } = deps;
  const limits = config.ingest;
  const dedupe = new Dedupe();
  let batch: IngestBatch = { readings: [], deadLetters: [], duplicates: 0 };
  const totals: IngestStats = { accepted: 0, duplicates: 0, rejected: 0, rejectedByReason: {}, backlog: 0 };

  const sink: DecodeSink = {
    accept(r) {
      if (r.seq !== undefined && !dedupe.firstTime(r.deviceId, r.seq)) {
        batch.duplicates++;
        totals.duplicates++;
        return;
      }
      batch.readings.push(r);
      totals.accepted++;
    },
    reject(reason, detail, deviceId, topic, payload) {
      totals.rejected++;
      totals.rejectedByReason[reason] = (totals.rejectedByReason[reason] ?? 0) + 1;
      batch.deadLetters.push({
        receivedAt: clock.now(),
        deviceId,
        topic,
        reason,
        detail,
        payload: payload.subarray(0, limits.deadLetterPayloadChars).toString('utf8'),
        payloadBytes: payload.length,
      });
    },
  };

  function onPublish(_clientId: string, packet: PublishPacket, done: () => void): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    decodeMessage(packet.topic, payload, clock.now(), limits, sink);
    done();
  }

  return {
    onPublish,
    takeBatch() {
      const taken = batch;
      batch = { readings: [], deadLetters: [], duplicates: 0 };
      return taken;
    },
    stats: () => ({ ...totals, rejectedByReason: { ...totals.rejectedByReason }, backlog: batch.readings.length }),
    async close() {},
  };
}
