import type { Config } from '../config.ts';
import { Dedupe } from './dedupe.ts';
import { copyReading, type DeadLetter, type IngestBatch, type Reading } from '../ingest/index.ts';
import type { BatchOutput, DeviceDelta, RecoveredState } from '../store/index.ts';
import { EventTimeWindows } from './event-time.ts';
import { Detectors, TYPE_INDEX, type Anomaly } from './detectors/index.ts';
import type { PackedWindows } from './window-pack.ts';

/**
 * Version of the operator state's layout (panes with anomaly counts by type, detector state): a checkpoint
 * written with another layout cannot be restored.
 */
const STATE_LAYOUT = 2;

/** The part of the job definition a checkpoint depends on: state from another definition cannot be reused. */
export function jobDefinition(config: Pick<Config, 'windows' | 'timeMode'>): string {
  return JSON.stringify({ windows: config.windows.map((w) => [w.lengthMs, w.slideMs]), timeMode: config.timeMode, state: STATE_LAYOUT });
}

/** A batch's outputs and checkpoint, plus the figures the stats report. */
export interface JobOutput extends BatchOutput {
  records: number;
  duplicates: number;
  /** Dedupe states held after the batch (seq + message-id states; bounded by the active devices, idle ones go). */
  dedupeDevices: number;
}

/** A batch in progress (TelemetryJob.begin … finish). */
export interface JobBatch {
  late: Reading[];
  devices: Map<string, DeviceDelta>;
  anomalies: Anomaly[];
  duplicates: number;
  records: number;
}

/**
 * The telemetry job's state and its step over one cut of the ingest log: drop resent readings ((deviceId, seq), or
 * (deviceId, messageId) for readings without seq), evict idle devices' dedupe state, put each
 * reading in its event-time panes (late ones go to their own output), fold per-device figures, and produce the
 * window results together with the checkpoint that covers them. Pure apart from its own state; time is passed in.
 */
export class TelemetryJob {
  readonly definition: string;
  private readonly windows: EventTimeWindows;
  private readonly dedupe: Dedupe;
  private readonly detectors: Detectors;
  private readonly byArrival: boolean;
  private batches: number;

  constructor(config: Config, startedAt: number, recovered: RecoveredState | null) {
    this.definition = jobDefinition(config);
    this.dedupe = new Dedupe(config.dedupe);
    this.windows = new EventTimeWindows({
      windows: config.windows,
      allowedLatenessMs: config.allowedLatenessMs,
      timeMode: config.timeMode,
      startedAt, // a restart is not idle time
      openWindowRefresh: config.openWindowRefresh,
    });
    this.byArrival = config.timeMode === 'processing';
    this.detectors = new Detectors(config.detectors, this.byArrival);
    this.batches = recovered?.checkpoint.batches ?? 0;
    if (recovered !== null) {
      if (recovered.checkpoint.job !== null) {
        this.windows.restore(recovered.checkpoint, recovered.panes);
        this.detectors.restore(recovered.detectors);
      }
      this.dedupe.restore(recovered.dedupe, startedAt);
    }
  }

  /** A graceful stop: the batches from now on show every open window's latest partial result. */
  flushOpenWindows(): void {
    this.windows.flushOpenWindows();
  }

  /** A committed batch's windows that were not handed over (nobody reads them now): their arrays are filled again. */
  recycleWindows(windows: PackedWindows): void {
    this.windows.recycle(windows);
  }

  get watermark(): number {
    return this.windows.watermark;
  }

  /** The ingest log accepted a reading at `at` (EventTimeWindows.noteInput). */
  noteInput(at: number): void {
    this.windows.noteInput(at);
  }

  /** One batch over a whole decoded cut: begin(), add() of all its readings, finish(). */
  process(cut: IngestBatch, now: number): JobOutput {
    const batch = this.begin();
    this.add(batch, cut.readings);
    return this.finish(batch, cut.deadLetters, cut.lastOffset, now);
  }

  /** Starts a batch, whose readings are then add()ed, in as many chunks as suit the caller, and which finish() ends. */
  begin(): JobBatch {
    return { late: [], devices: new Map(), anomalies: [], duplicates: 0, records: 0 };
  }

  /**
   * Puts readings of the batch in their windows (after dropping resends, see the class); returns the readings without
   * the duplicates (the same array when there were none), for the recent raw readings. Keeps none of the reading
   * objects past its return (the decoder reuses them: decodeCutInChunks).
   */
  add(batch: JobBatch, readings: readonly Reading[]): readonly Reading[] {
    const { late, devices, anomalies } = batch;
    let duplicateAt: number[] | null = null; // rare: only then is a copy of the readings made
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      if (!this.dedupe.firstReading(r)) {
        (duplicateAt ??= []).push(i);
        continue;
      }
      if (!this.windows.add(r)) late.push(copyReading(r)); // the batch keeps it, and the decoder fills r again
      else {
        const before = anomalies.length;
        this.detectors.onReading(r, anomalies);
        if (anomalies.length > before) this.count(anomalies, before, this.windows.timeOf(r));
      }
      countDevice(devices, r);
    }
    const duplicates = duplicateAt?.length ?? 0;
    batch.duplicates += duplicates;
    batch.records += readings.length - duplicates;
    return duplicateAt === null ? readings : withoutIndices(readings, duplicateAt);
  }

  /**
   * Ends the batch at processing time `now`: the watermark moves, the detectors' time-driven checks run, and the window
   * results come out with the checkpoint covering the cut up to `lastOffset`.
   */
  finish(batch: JobBatch, deadLetters: readonly DeadLetter[], lastOffset: number, now: number): JobOutput {
    const { anomalies } = batch;
    const lateWatermark = this.windows.watermark; // what the batch's late readings were behind
    const watermark = this.windows.moveWatermark(now);
    const before = anomalies.length;
    this.detectors.tick(watermark, anomalies);
    this.count(anomalies, before, watermark);
    const windows = this.windows.emit();
    this.dedupe.evictIdle(now);
    this.batches++;
    return {
      windows,
      anomalies,
      devices: [...batch.devices.values()],
      deadLetters,
      late: batch.late,
      lateWatermark,
      committedAt: now,
      checkpoint: { logOffset: lastOffset, job: this.definition, batches: this.batches, ...this.windows.clockState() },
      panes: this.windows.takeDelta(),
      detectors: this.detectors.takeDelta(),
      dedupe: this.dedupe.takeDelta(),
      records: batch.records,
      duplicates: batch.duplicates,
      dedupeDevices: this.dedupe.size,
    };
  }

  /** New anomalies count in the windows: opening an interval counts it, closing it does not count it again. */
  private count(anomalies: readonly Anomaly[], from: number, detectedAt: number): void {
    for (let i = from; i < anomalies.length; i++) {
      const a = anomalies[i];
      if (a.end !== null && !a.raisedClosed) continue; // the closing update of an interval counted when it opened
      // Processing-time windows place everything by arrival: the anomaly too, at the moment it was detected.
      this.windows.countAnomaly(a.deviceId, this.byArrival ? detectedAt : a.ts, detectedAt, TYPE_INDEX[a.type]);
    }
  }
}

function withoutIndices<T>(items: readonly T[], drop: readonly number[]): readonly T[] {
  const out: T[] = [];
  let d = 0;
  for (let i = 0; i < items.length; i++) {
    if (d < drop.length && drop[d] === i) d++;
    else out.push(items[i]);
  }
  return out;
}

function countDevice(devices: Map<string, DeviceDelta>, r: Reading): void {
  const d = devices.get(r.deviceId);
  if (d === undefined) {
    devices.set(r.deviceId, {
      deviceId: r.deviceId,
      firstSeen: r.arrival,
      lastSeen: r.arrival,
      readings: 1,
      lastTemperature: r.temperature,
      lastTs: r.ts,
    });
    return;
  }
  d.readings++;
  if (r.arrival < d.firstSeen) d.firstSeen = r.arrival;
  if (r.arrival > d.lastSeen) d.lastSeen = r.arrival;
  if (r.ts >= d.lastTs) {
    d.lastTs = r.ts;
    d.lastTemperature = r.temperature;
  }
}
