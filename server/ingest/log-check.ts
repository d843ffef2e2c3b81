import { closeSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ThermostreamError } from '../errors.ts';
import { checkSegment, type SegmentCheck } from './log-format.ts';
import type { ReplaySegment } from './log-replay.ts';

/** A segment file is named by the offset of its first record (shared with log-tail.ts, the jobs' reader). */
export const SEGMENT = /^(\d{20})\.seg$/;
export const segmentName = (firstOffset: number): string => `${String(firstOffset).padStart(20, '0')}.seg`;

/** The segments' first offsets, ascending. */
export function listSegments(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

export interface LogCheck {
  /** First offsets of the segments, ascending (after any repair). */
  segments: number[];
  /** Valid bytes and records of the last segment (after its torn tail, if any, was cut off). */
  lastBytes: number;
  lastRecords: number;
  /** What recovery replays: the segments holding records after the checkpoint, and how many records that is. */
  replay: ReplaySegment[];
  replayCount: number;
  /** One line per repaired segment (--repair), saying what was dropped. */
  repairs: string[];
  /** What was cut off the end of the last segment as a torn write, or null: said at start-up. */
  tornTail: string | null;
}

/** Makes a new, renamed or removed file's directory entry durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens the log for recovery after the checkpoint's `after` offset: checks (CRC) every segment that holds records
 * after it and the last one. A bad block at the very end of the last segment, with nothing valid after it, is the
 * torn tail of a write a crash interrupted (never acknowledged): it is cut off. A bad block anywhere else is
 * corruption: refused with TS_ERR_LOG_CORRUPT, or with `repair`, cut out keeping every intact block around it.
 */
export function checkLog(dir: string, after: number, repair: boolean): LogCheck {
  let segments = listSegments(dir);
  const result: LogCheck = { segments, lastBytes: 0, lastRecords: 0, replay: [], replayCount: 0, repairs: [], tornTail: null };
  if (segments.length === 0) return result;
  if (segments[0] > after + 1) {
    // No checkpoint at all is most often a database deleted (or not restored) beside a log that retention has cut.
    const why = after === 0
      ? 'the database has consumed no record (it has no checkpoint: a new database, deleted or not restored with the log)'
      : `the checkpoint has consumed only up to ${after}`;
    const cause = after === 0 ? '' : ' (the database is older than the log, e.g. restored from another backup)';
    const startOver = after === 0 ? '; or, to start afresh without what the log holds, move the log directory aside' : '';
    throw new ThermostreamError(
      'TS_ERR_LOG_GAP',
      `the ingest log in ${dir} starts at offset ${segments[0]}, but ${why}: records ${after + 1}…${segments[0] - 1} ` +
        `are gone${cause}. Restore the data directory as a whole from one backup${startOver}.`,
    );
  }
  for (let i = 0; i < segments.length; ) {
    const first = segments[i];
    const next = i + 1 < segments.length ? segments[i + 1] : null;
    if (next !== null && next - 1 <= after) {
      i++; // wholly consumed: not needed for recovery, not read
      continue;
    }
    const path = join(dir, segmentName(first));
    const bytes = readFileSync(path);
    const c = checkSegment(bytes);
    if (c.validBytes < bytes.length) {
      if (next === null && c.resumesAt < 0) {
        truncate(path, c.validBytes); // a torn tail
        // Said, not silent: a segment cut short (a copy, a truncation) looks the same, and loses acknowledged records.
        const from = first + c.records;
        // Records the checkpoint covers were processed: a file cut short loses only those after it.
        const lostFrom = Math.max(from, after + 1);
        result.tornTail =
          `cut the torn end off the ingest log segment ${path}: bytes ${c.validBytes}…${bytes.length - 1} ` +
          `(${bytes.length - c.validBytes} bytes) after its last whole block, where the records from offset ` +
          `${from} would start. After a crash this is the group commit being written, never acknowledged; ` +
          `after a clean stop or a copy, the file was cut short and the records from offset ${lostFrom} on are lost` +
          (lostFrom > from ? ` (those up to ${after} were processed before the checkpoint: the results hold them)` : '');
      } else if (!repair) {
        throw corrupt(path, first, bytes.length, c, after);
      } else {
        result.repairs.push(repairSegment(dir, first, next, after, bytes, c));
        segments = listSegments(dir);
        result.segments = segments;
        continue; // check the same segment again, then the split-off rest
      }
    }
    const lastOffset = first + c.records - 1;
    if (lastOffset > after) {
      result.replay.push({ path, firstOffset: first, bytes: c.validBytes });
      result.replayCount += lastOffset - Math.max(after, first - 1);
    }
    if (next === null) {
      result.lastBytes = c.validBytes;
      result.lastRecords = c.records;
    }
    i++;
  }
  return result;
}

function truncate(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function corrupt(path: string, first: number, size: number, c: SegmentCheck, after: number): ThermostreamError {
  // Damage in records the checkpoint covers costs no result (the last segment keeps processed records until it closes).
  const lastDamaged = c.badRecords === null ? null : first + c.records + c.badRecords - 1;
  const processed =
    lastDamaged !== null && lastDamaged <= after
      ? `The damaged records (offsets ${first + c.records}…${lastDamaged}) were processed before the checkpoint (offset ` +
        `${after}): the results hold them, and --repair drops only their raw copy. `
      : '';
  const why =
    c.resumesAt >= 0
      ? `intact blocks follow at byte ${c.resumesAt}`
      : `it is not the last segment, whose end a crash can tear`;
  return new ThermostreamError(
    'TS_ERR_LOG_CORRUPT',
    `the ingest log segment ${path} is damaged at byte ${c.validBytes} of ${size}: the block holding the records ` +
      `from offset ${first + c.records} fails its CRC check, and ${why}, so this is corruption (a disk ` +
      `or copy error), not a torn write from a crash. Nothing was changed and nothing was skipped. ${processed}Restore the data ` +
      'directory from a backup, or start once with --repair to keep every intact record, drop the damaged bytes and ' +
      'report how many records they held.',
  );
}

/**
 * Cuts the damaged bytes out of a segment: the valid prefix stays where it is, the intact blocks after the damage
 * move to a segment of their own, named by the offset of their first record, so every kept record keeps its offset
 * (and a checkpoint still means the same records). Returns the report line.
 */
function repairSegment(dir: string, first: number, next: number | null, after: number, bytes: Buffer, c: SegmentCheck): string {
  const path = join(dir, segmentName(first));
  const damagedEnd = c.resumesAt >= 0 ? c.resumesAt : bytes.length;
  const lostFrom = first + c.records;
  let tailFirst: number | null = null;
  let guessed = false; // how many records the damage held is not known
  if (c.resumesAt >= 0) {
    const tail = bytes.subarray(c.resumesAt);
    const tc = checkSegment(tail);
    if (c.badRecords !== null) tailFirst = lostFrom + c.badRecords;
    else if (next !== null && tc.validBytes === tail.length) tailFirst = next - tc.records;
    // The damaged header hides how many records it held: number the rest after the checkpoint, so none of them is
    // taken as already processed (a resend of a processed one is still dropped by (deviceId, seq)).
    else {
      tailFirst = Math.max(lostFrom, after + 1);
      guessed = true;
    }
    const tmp = join(dir, 'repair.tmp');
    writeFileSync(tmp, tail, { flush: true });
    if (tailFirst !== first) truncate(path, c.validBytes);
    renameSync(tmp, join(dir, segmentName(tailFirst)));
  } else {
    truncate(path, c.validBytes);
  }
  if (c.validBytes === 0 && tailFirst !== first) unlinkSync(path);
  fsyncDir(dir);
  const end = tailFirst ?? next;
  const dropped =
    end === null || guessed
      ? 'an unknown number of records'
      : `${end - lostFrom} record(s), offsets ${lostFrom}…${end - 1}${end - 1 <= after ? ` (processed before the checkpoint at offset ${after}: the results hold them)` : ''}`;
  return (
    `repaired ${path}: dropped bytes ${c.validBytes}…${damagedEnd - 1} (${damagedEnd - c.validBytes} bytes) holding ${dropped}` +
    (tailFirst !== null ? `; the intact blocks after them now start segment ${segmentName(tailFirst)}` : '')
  );
}
