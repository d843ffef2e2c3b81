import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PublishPacket } from 'aedes';
import type { OnPublish, OnRefused, PublishSink } from '../broker/index.ts';
import type { Config } from '../config.ts';
import type { Clock } from '../clock.ts';
import type { RejectReason } from '../errors.ts';
import { decodeMessage, DEVICE_ID, type DecodeSink } from './decode.ts';
import { IngestLog, type DeadLetter, type RawCut, type Records } from './log.ts';
import type { SyncRecord } from './sync-record.ts';
import type { StorageHealth, StorageStatus } from '../storage-health.ts';
import type { Partition } from '../cluster/partition.ts';
import { ThermostreamError } from '../errors.ts';
import { listSegments } from './log-check.ts';
import { CommitWaiters } from './commit-waiters.ts';

export { copyReading, type Reading } from './reading.ts';
export type { DeadLetter, RawCut } from './log.ts';
export { decodeCut, decodeCutInChunks, recordsIn } from './log-format.ts';

/** What became durable since the last batch was cut, up to log offset `lastOffset`. */
export type IngestBatch = Records & { lastOffset: number };

export interface IngestStats {
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  /** Messages for devices another instance owns (cluster.instances): acknowledged and dropped, never logged. */
  foreign: number;
  /** Durable records the engine has not taken yet. */
  backlog: number;
  /** Acknowledgements held back: the backlog is over ingest.maxBacklog, or (ack after commit) their batch is not committed yet. */
  heldAcks: number;
  logEndOffset: number;
  /** Whether the data dir takes writes; not ok while a full disk holds acknowledgements (see StorageHealth). */
  storage: StorageStatus;
}

export interface Ingest {
  /** The broker's publish hook. */
  readonly onPublish: OnPublish;
  /** The same for the broker's telemetry fast path (server/broker/fast-publish.ts). */
  readonly publishSink: PublishSink;
  /** The broker refused a publish (authorization): dead-lettered and counted like a rejected reading. */
  readonly onRefused: OnRefused;
  /** Cuts the batch: every durable record not taken yet, as the log's bytes (decodeCut decodes them). */
  takeBatch(): RawCut;
  /** Whether takeBatch still replays the log's records from before this start (recovery after a stop or crash). */
  replaying(): boolean;
  /** When input last arrived, for the engine's idleness: `now` while records wait untaken (IngestLog.inputAt). */
  inputAt(now: number): number;
  /** The checkpoint now covers everything up to `offset`: log segments before it can go. */
  checkpointed(offset: number): void;
  stats(): IngestStats;
  /** --repair's report: one line per repaired log segment (empty if nothing needed repair). */
  readonly repairs: readonly string[];
  /** The torn end of the log cut off at start-up (after a crash), or null. */
  readonly tornTail: string | null;
  /**
   * Shutting down: PUBLISHes from now on are neither logged nor acknowledged, so their senders send them again to
   * the next server. Everything accepted before is still made durable and acknowledged.
   */
  stopAccepting(): void;
  /** Resolves once everything appended so far is durable (and so visible to takeBatch). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** Where the durable ingest log's segment files live (jobs tail them: server/ingest/log-tail.ts). */
export const ingestLogDir = (config: Config): string => join(config.dataDir, 'log');

export interface IngestDeps {
  clock: Clock;
  /** Recovery: the checkpoint's log offset; durable records after it are replayed into the first batch. */
  replayAfter: number;
  /** Shared with the store: a full disk anywhere in the data dir holds acknowledgements. */
  health: StorageHealth;
  /** --repair: cut damaged blocks out of the log (and report them) instead of refusing to start. */
  repair?: boolean;
  onFatal: (err: Error) => void;
  /** Fault injection (power-cut tests): records what the log has synced. */
  syncRecord?: SyncRecord;
  /** Which devices this instance owns (cluster.instances); absent = every device. */
  partition?: Partition;
  /**
   * broker.ackAfterCommit: QoS 1 messages are acknowledged once the checkpoint covers them (checkpointed()), not once
   * the local log has them; a start with the log gone but a checkpoint past offset 0 then begins a new log after it.
   */
  ackAfterCommit?: boolean;
}

/**
 * Decode + validate → append to the durable log → acknowledge once durable (group commit).
 * Per reading: one JSON decode and one binary append; nothing is awaited and nothing allocated per reading beyond
 * the reading itself. Rejected messages are logged too, as dead letters, so nothing accepted or rejected is lost.
 */
export async function createIngest(config: Config, deps: IngestDeps): Promise<Ingest> {
  const { clock } = deps;
  const limits = config.ingest;
  const afterCommit = deps.ackAfterCommit ?? false;
  const lost = checkLogPresent(ingestLogDir(config), deps.replayAfter, afterCommit, deps.repair ?? false);
  const log = IngestLog.open(
    {
      dir: ingestLogDir(config),
      segmentBytes: limits.segmentBytes,
      maxBacklog: limits.maxBacklog,
      fsync: limits.fsync,
      retainMs: limits.retainMs,
      repair: deps.repair ?? false,
      health: deps.health,
      onFatal: deps.onFatal,
      syncRecord: deps.syncRecord,
    },
    deps.replayAfter,
  );
  const totals = { accepted: 0, rejected: 0, foreign: 0, rejectedByReason: {} as Partial<Record<RejectReason, number>> };
  const partition = deps.partition !== undefined && deps.partition.instances.length > 1 ? deps.partition : null;
  const committed = new CommitWaiters(deps.replayAfter);
  /** QoS 1: [MQTT-4.3.2-2] PUBACK only once the message is stored — in the log (fsync'ed), or with ack after commit, in the store. */
  const whenStored = afterCommit ? (done: () => void) => committed.add(log.endOffset, done) : (done: () => void) => log.whenDurable(done);

  const sink: DecodeSink = {
    accept(r) {
      log.appendReading(r);
      totals.accepted++;
    },
    reject(reason, detail, deviceId, topic, payload) {
      totals.rejected++;
      totals.rejectedByReason[reason] = (totals.rejectedByReason[reason] ?? 0) + 1;
      const letter: DeadLetter = {
        receivedAt: clock.now(),
        deviceId,
        topic,
        reason,
        detail,
        // The bytes as they came (a view: the log copies them at once); the API shows them as text when they are UTF-8.
        payload: payload.subarray(0, limits.deadLetterPayloadChars),
        payloadBytes: payload.length,
      };
      log.appendDeadLetter(letter);
    },
  };

  let accepting = true;

  /** Decodes and logs one message; false once shutting down (then it is never acknowledged: the device resends it). */
  function take(topic: string, payload: Buffer, arrival = clock.now()): boolean {
    if (!accepting) return false;
    if (partition !== null && !partition.owns(deviceOfTopic(topic))) {
      // Another instance owns the device and receives the same message: acknowledged here, logged there. Acks leave
      // in order ([MQTT-4.6.0-2]), so a QoS 1 one waits behind the messages before it.
      totals.foreign++;
      return true;
    }
    try {
      decodeMessage(topic, payload, arrival, limits, sink);
    } catch (err) {
      // decodeMessage does not throw by design; should a bug make it, the message is dead-lettered, never fatal.
      sink.reject('internal_error', `internal decoding error: ${(err as Error).message}`, null, topic, payload);
    }
    return true;
  }

  /**
   * QoS 1: [MQTT-4.3.2-2] PUBACK only once the message is stored — once the log has fsync'ed it (whenStored).
   * QoS 0 has no acknowledgement to hold: reading on at once keeps QoS 0 at its own pace (at most once), unless the
   * backlog is full.
   */
  function whenTaken(stored: boolean, done: () => void): void {
    if (stored) whenStored(done);
    else log.whenAccepted(done);
  }

  function onPublish(_clientId: string, packet: PublishPacket, done: () => void): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (take(packet.topic, payload)) whenTaken(packet.qos > 0, done);
  }

  const onRefused: OnRefused = (reason, detail, deviceId, packet, done) => {
    if (!accepting) return; // never acknowledged: the device resends it to the next server
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    sink.reject(reason, detail, deviceId, packet.topic, payload);
    whenTaken(packet.qos > 0, done);
  };

  return {
    onPublish,
    publishSink: { take, whenTaken, now: () => clock.now() },
    onRefused,
    takeBatch: () => log.takeRaw(),
    replaying: () => log.replaying,
    inputAt: (now) => log.inputAt(now),
    checkpointed(offset) {
      committed.release(offset);
      log.truncateThrough(offset, clock.now());
    },
    stats: () => ({
      ...totals,
      rejectedByReason: { ...totals.rejectedByReason },
      backlog: log.backlog,
      heldAcks: log.heldAcks + committed.size,
      logEndOffset: log.endOffset,
      storage: deps.health.status(),
    }),
    repairs: lost === null ? log.repairs : [lost, ...log.repairs],
    tornTail: log.tornTail,
    stopAccepting() {
      accepting = false;
    },
    drain: () => log.drain(),
    close: () => log.close(),
  };
}

/**
 * The device a message's topic speaks for (`devices/{deviceId}/…`): what decides the owner. A topic outside the
 * scheme, or naming no valid device id, gives "" — one owner for its dead letter, not one per instance, and nothing
 * cached for it (an id is at most 128 characters, so the owner cache stays bounded in bytes, not only in entries).
 */
function deviceOfTopic(topic: string): string {
  if (!topic.startsWith('devices/')) return '';
  const slash = topic.indexOf('/', 8);
  if (slash < 0) return '';
  const id = topic.slice(8, slash);
  return DEVICE_ID.test(id) ? id : '';
}

/**
 * A checkpoint past offset 0 with no log segment at all: the log (or the whole data dir) is gone while the store
 * survived. With ack after commit nothing acknowledged lived only there — the broker redelivers the rest — so a new
 * log starts after the checkpoint (IngestLog does that). Otherwise readings acknowledged but not yet committed were
 * in it: refused, so that an operator decides; --repair accepts the loss (the line it reports is returned).
 */
function checkLogPresent(dir: string, after: number, afterCommit: boolean, repair: boolean): string | null {
  if (after === 0 || afterCommit) return null;
  if (existsSync(dir) && listSegments(dir).length > 0) return null;
  if (repair) {
    return `the ingest log ${dir} was missing: a new one starts after the checkpoint's offset ${after}; readings ` +
      'acknowledged after the last commit, if any, were only in the old one and are lost';
  }
  throw new ThermostreamError(
    'TS_ERR_LOG_MISSING',
    `the ingest log ${dir} is missing, but the checkpoint has consumed records up to offset ${after}: readings acknowledged ` +
      'after the last commit, if any (none after a graceful stop), were only in that log and are lost. Restore the data dir (the log with the database), or, if ' +
      'the loss is accepted, start once with --repair: a new log starts after the checkpoint. (Behind an external broker, ' +
      '--broker-ack-after-commit makes acknowledgements wait for the commit, so that a lost log loses nothing acknowledged.)',
  );
}
