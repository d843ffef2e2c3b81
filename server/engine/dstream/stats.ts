/**
 * Per-batch figures, as Spark's BatchInfo: when the batch was due, how many input records it had, how long it
 * waited behind earlier batches (scheduling delay) and how long it took (processing time). Times in epoch ms.
 */
export interface BatchInfo {
  batchTime: number;
  inputRecords: number;
  /** When the batch was generated (its input cut), normally the batch time. */
  submissionTime: number;
  processingStartTime: number;
  processingEndTime: number;
  /** processingStartTime − batchTime */
  schedulingDelayMs: number;
  /** processingEndTime − processingStartTime */
  processingTimeMs: number;
  /** processingEndTime − batchTime */
  totalDelayMs: number;
  /** Set when the batch failed: the error's message. */
  error?: string;
}

export interface StreamingStats {
  state: 'initialized' | 'active' | 'stopped';
  batchIntervalMs: number;
  /** The context's zero time (epoch ms), null before start. */
  startTime: number | null;
  /** Batches generated and waiting for the one being processed. */
  pendingBatches: number;
  /** The most recent completed batches, oldest first. */
  batches: BatchInfo[];
  totals: {
    batches: number;
    failedBatches: number;
    inputRecords: number;
    processingTimeMs: number;
    maxSchedulingDelayMs: number;
  };
}

export class BatchLog {
  private readonly recent: BatchInfo[] = [];
  readonly totals = { batches: 0, failedBatches: 0, inputRecords: 0, processingTimeMs: 0, maxSchedulingDelayMs: 0 };

  constructor(private readonly retained: number) {}

  add(info: BatchInfo): void {
    this.recent.push(info);
    if (this.recent.length > this.retained) this.recent.shift();
    const t = this.totals;
    t.batches++;
    if (info.error !== undefined) t.failedBatches++;
    t.inputRecords += info.inputRecords;
    t.processingTimeMs += info.processingTimeMs;
    t.maxSchedulingDelayMs = Math.max(t.maxSchedulingDelayMs, info.schedulingDelayMs);
  }

  batches(): BatchInfo[] {
    return this.recent.map((b) => ({ ...b }));
  }
}
