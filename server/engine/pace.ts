/**
 * Whether the engine keeps pace with its input, said in the log the way an operator needs it: once when batches'
 * work (job and commit) has taken longer than the batch interval several times in a row (input then waits in the
 * durable log, and results come later than one interval), again at most once a minute while that lasts, and once
 * when it has caught up.
 * Pure: the engine passes each committed batch's figures and the time; the lines come back to be logged.
 */

/** Batches in a row whose work took longer than the batch interval before the engine is said to be behind. */
export const BEHIND_AFTER = 3;
/** How often the warning is repeated while the engine stays behind. */
export const BEHIND_REPEAT_MS = 60_000;

export interface PaceFigures {
  batch: number;
  records: number;
  jobMs: number;
  commitMs: number;
  /** From the start of the batch's processing at its time to the end of its commit (its blocks' job share not in it). */
  processingMs: number;
  /** Readings in the ingest log that no batch has taken yet, after this one. */
  waiting: number;
}

export class PaceWatch {
  private slowInRow = 0;
  private behindSince: number | null = null;
  private lastWarning = -Infinity;

  constructor(private readonly intervalMs: number) {}

  /** A committed batch: the line to log, or null. */
  batch(b: PaceFigures, now: number): string | null {
    // The batch's own work, not its delay: a stalled start-up or a paused process is not a pace the engine keeps;
    // nor is a batch without readings (its time is the machine's, not the input's).
    const work = Math.max(b.processingMs, b.jobMs + b.commitMs);
    const slow = work > this.intervalMs && b.records > 0;
    this.slowInRow = slow ? this.slowInRow + 1 : 0;
    if (this.slowInRow >= BEHIND_AFTER) {
      this.behindSince ??= now;
      if (now - this.lastWarning < BEHIND_REPEAT_MS) return null;
      this.lastWarning = now;
      return (
        `behind its input: batch ${b.batch} took ${fmt(work)} ms (job ${fmt(b.jobMs)} ms, commit ${fmt(b.commitMs)} ms) ` +
        `for ${fmt(b.records)} readings, more than the ${fmt(this.intervalMs)} ms batch interval, ${this.slowInRow} batches ` +
        `in a row; ${fmt(b.waiting)} readings wait in the ingest log. Nothing accepted is lost ` +
        '(the log is durable; past ingest.maxBacklog acknowledgements are held back), but results come later. ' +
        'For large fleets see docs/SCALING.md (openWindowRefresh "final", fewer window shapes, instances)'
      );
    }
    if (this.behindSince === null || slow || b.waiting > b.records) return null;
    const seconds = Math.round((now - this.behindSince) / 1000);
    this.behindSince = null;
    this.lastWarning = -Infinity;
    return `caught up with its input after ${seconds} s behind: batch ${b.batch} took ${fmt(work)} ms for ${fmt(b.records)} readings`;
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
