import { deserialize, serialize } from 'node:v8';
import type { DedupeRow, MessageIdRow } from '../../engine/dedupe.ts';
import type { DetectorRow } from '../../engine/detectors/index.ts';
import type { PaneKey, PaneRow } from '../../engine/event-time.ts';
import type { BatchOutput } from '../types.ts';

/**
 * Batches whose state changes wait in state_log before they are folded into the state tables (panes, detector_state,
 * dedupe, dedupe_ids). Each batch appends its changes as one row; every FOLD_EVERY batches the transaction that
 * appends the last one also writes what they changed, each key once (its last value), and empties the log.
 */
export const FOLD_EVERY = 8;

/** What a batch changes in the operator state: the checkpoint's part beside its log offset and clock. */
export type StateDelta = Pick<BatchOutput, 'panes' | 'detectors' | 'dedupe'>;

/** One state_log row: the delta's plain data, as V8 serializes it (numbers exact, Infinity and NaN included). */
export function encodeDelta(out: StateDelta): Buffer {
  const { panes, detectors, dedupe } = out;
  return serialize({ panes, detectors, dedupe } satisfies StateDelta);
}

export function decodeDelta(bytes: Uint8Array): StateDelta {
  return deserialize(bytes) as StateDelta;
}

const paneKey = (p: PaneKey): string => `${p.lengthMs}/${p.slideMs}/${p.start}/${p.key}`;

/** A pane's last state, or null where it was deleted. */
export type PaneChange = PaneKey & { state: Uint8Array | null };

/**
 * The last value of every key that deltas changed, in the order they were applied: a row, or null where the key was
 * deleted (a pane no window needs, an evicted dedupe state). Within a delta, upserts come before deletes, as the
 * statements ran when every batch wrote the tables itself.
 */
export class StateChanges {
  readonly panes = new Map<string, PaneChange>();
  readonly detectors = new Map<string, DetectorRow>();
  readonly seqs = new Map<string, DedupeRow | null>();
  readonly messageIds = new Map<string, MessageIdRow | null>();

  apply(d: StateDelta): void {
    for (const p of d.panes.upserts) this.panes.set(paneKey(p), p);
    for (const p of d.panes.deletes) this.panes.set(paneKey(p), { ...p, state: null });
    for (const r of d.detectors) this.detectors.set(r.deviceId, r);
    for (const r of d.dedupe.seqs) this.seqs.set(r.deviceId, r);
    for (const id of d.dedupe.evictedSeqs) this.seqs.set(id, null);
    for (const r of d.dedupe.messageIds) this.messageIds.set(r.deviceId, r);
    for (const id of d.dedupe.evictedMessageIds) this.messageIds.set(id, null);
  }

  /** The state tables' rows (`base`) with these changes on top: what the tables would hold had they been folded. */
  overlay(base: { panes: PaneRow[]; detectors: DetectorRow[]; seqs: DedupeRow[]; messageIds: MessageIdRow[] }) {
    const panes = base.panes.filter((row) => !this.panes.has(paneKey(row)));
    for (const p of this.panes.values()) if (p.state !== null) panes.push(p as PaneRow);
    return {
      panes,
      detectors: over(base.detectors, this.detectors, (r) => r.deviceId),
      seqs: over(base.seqs, this.seqs, (r) => r.deviceId),
      messageIds: over(base.messageIds, this.messageIds, (r) => r.deviceId),
    };
  }
}

function over<T>(base: readonly T[], changes: ReadonlyMap<string, T | null>, key: (row: T) => string): T[] {
  const out = base.filter((row) => !changes.has(key(row)));
  for (const row of changes.values()) if (row !== null) out.push(row);
  return out;
}
