import type pg from 'pg';
import { FLEET } from '../../engine/event-time.ts';
import { FLEET_INSERT_COLUMNS, partialValues } from '../fleet.ts';
import { mapRows } from '../../engine/rows.ts';
import { windowCount, windowRowValues } from '../../engine/window-pack.ts';
import type { BatchOutput } from '../types.ts';

/** One multi-row statement: INSERT … SELECT * FROM unnest(column arrays) [ON CONFLICT …], named (prepared once per connection). */
interface Bulk {
  name: string;
  text: string;
  width: number;
  /** Per column: how its array literal is written. */
  encoders: ((values: unknown[]) => string)[];
}

function bulk(name: string, table: string, columns: readonly (readonly [string, string])[], conflict: string): Bulk {
  const arrays = columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  return {
    name: `ts_commit_${name}`,
    text: `INSERT INTO ${table} (${columns.map(([c]) => c).join(', ')}) SELECT * FROM unnest(${arrays}) ${conflict}`,
    width: columns.length,
    encoders: columns.map(([, type]) => (type === 'text' ? textArray : type === 'bytea' ? byteaArray : numberArray)),
  };
}

/*
 * Array literals written directly ('{1,2,NULL}'): pg's generic array serialisation costs about a quarter of a
 * second per 16,000 window rows, as much as the statement itself. Numbers print exactly (String() round-trips
 * doubles; Infinity and NaN are float8 literals); text is quoted and escaped; bytea as \x hex.
 */
function numberArray(values: unknown[]): string {
  let s = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) s += ',';
    s += v === null || v === undefined ? 'NULL' : String(v);
  }
  return s + '}';
}

function textArray(values: unknown[]): string {
  let s = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) s += ',';
    // PostgreSQL text cannot hold NUL (a dead letter's detail may quote one): it becomes U+FFFD.
    s += v === null || v === undefined ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&').replace(/\u0000/g, '\uFFFD')}"`;
  }
  return s + '}';
}

function byteaArray(values: unknown[]): string {
  let s = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as Uint8Array | null | undefined;
    if (i > 0) s += ',';
    s += v === null || v === undefined ? 'NULL' : `"\\\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"`;
  }
  return s + '}';
}

const updateAll = (key: string, columns: readonly (readonly [string, string])[]): string =>
  `ON CONFLICT (${key}) DO UPDATE SET ${columns
    .map(([c]) => c)
    .filter((c) => !key.split(', ').includes(c))
    .map((c) => `${c} = excluded.${c}`)
    .join(', ')}`;

const T = 'text', I = 'bigint', F = 'float8', S = 'smallint', B = 'bytea';

const WINDOW_COLS = [
  ['device_id', T], ['length_ms', I], ['slide_ms', I], ['start', I], ['"end"', I], ['count', I], ['avg', F], ['min', F],
  ['max', F], ['stddev', F], ['first', F], ['last', F], ['humidity_count', I], ['humidity_avg', F], ['humidity_min', F],
  ['humidity_max', F], ['humidity_stddev', F], ['humidity_first', F], ['humidity_last', F], ['anomalies', I],
  ['anomaly_counts', T], ['final', S], ['updated_at', I],
] as const;
const FLEET_TYPES: Record<string, string> = { instance_id: T, anomaly_counts: T, final: S };
const FLEET_COLS = FLEET_INSERT_COLUMNS.map((c) => [c, FLEET_TYPES[c] ?? (/^(length_ms|slide_ms|start|"end"|count|humidity_count|anomalies|updated_at)$/.test(c) ? I : F)] as const);
const ANOMALY_COLS = [
  ['device_id', T], ['type', T], ['ts', F], ['n', I], ['score', F], ['value', F], ['expected', F], ['threshold', F],
  ['start', F], ['"end"', F], ['detected_at', F], ['updated_at', I],
] as const;

/**
 * Point anomalies: each a new row, numbered after the rows of its device, type and ts (schema version 9); the `n`
 * sent is the anomaly's place among the batch's own at that key (one statement sees none of the rows it inserts).
 */
function pointAnomalies(): Bulk {
  const b = bulk('point_anomalies', 'anomalies', ANOMALY_COLS, '');
  const names = ANOMALY_COLS.map(([c]) => c);
  const arrays = ANOMALY_COLS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  const next = 'coalesce((SELECT max(a.n) + 1 FROM anomalies a WHERE a.device_id = u.device_id AND a.type = u.type AND a.ts = u.ts), 0)';
  const values = names.map((c) => (c === 'n' ? `u.n + ${next}` : `u.${c}`)).join(', ');
  return { ...b, text: `INSERT INTO anomalies (${names.join(', ')}) SELECT ${values} FROM unnest(${arrays}) AS u(${names.join(', ')})` };
}
const DEVICE_COLS = [['device_id', T], ['first_seen', F], ['last_seen', F], ['readings', I], ['last_temperature', F], ['last_ts', F]] as const;
const DEAD_COLS = [['received_at', F], ['device_id', T], ['topic', T], ['reason', T], ['detail', T], ['payload', B], ['payload_bytes', I]] as const;
const REJECT_COLS = [['device_id', T], ['reason', T], ['count', I]] as const;
const LATE_COLS = [['device_id', T], ['ts', F], ['arrival', F], ['temperature', F], ['humidity', F], ['seq', F], ['watermark', F]] as const;
const BATCH_COLS = [
  ['instance_id', T], ['batch', I], ['committed_at', I], ['records', I], ['late', I], ['duplicates', I], ['rejected', I],
  ['windows_updated', I], ['watermark', F], ['log_offset', I],
] as const;
const PANE_COLS = [['instance_id', T], ['length_ms', I], ['slide_ms', I], ['key', T], ['start', I], ['state', B]] as const;
const DETECTOR_COLS = [['instance_id', T], ['device_id', T], ['state', B]] as const;
const DEDUPE_COLS = [['instance_id', T], ['device_id', T], ['max_seq', F], ['max_ts', F], ['seen', B], ['last_seen', F]] as const;
const DEDUPE_ID_COLS = [['instance_id', T], ['device_id', T], ['ids', B], ['last_seen', F]] as const;
const CHECKPOINT_COLS = [
  ['instance_id', T], ['log_offset', I], ['job', T], ['watermark', F], ['max_event_time', F], ['batches', I], ['updated_at', I],
] as const;

const STATEMENTS = {
  windows: bulk('windows', 'windows', WINDOW_COLS, updateAll('device_id, length_ms, slide_ms, start', WINDOW_COLS)),
  fleet: bulk('fleet', 'fleet_windows', FLEET_COLS, updateAll('length_ms, slide_ms, start, instance_id', FLEET_COLS)),
  intervals: bulk('anomalies', 'anomalies', ANOMALY_COLS, updateAll('device_id, type, ts, n', ANOMALY_COLS)),
  points: pointAnomalies(),
  devices: bulk('devices', 'devices', DEVICE_COLS, `ON CONFLICT (device_id) DO UPDATE SET
      first_seen = LEAST(devices.first_seen, excluded.first_seen),
      last_seen = GREATEST(devices.last_seen, excluded.last_seen),
      readings = devices.readings + excluded.readings,
      last_temperature = CASE WHEN excluded.last_ts >= devices.last_ts THEN excluded.last_temperature ELSE devices.last_temperature END,
      last_ts = GREATEST(devices.last_ts, excluded.last_ts)`),
  deadLetters: bulk('dead_letters', 'dead_letters', DEAD_COLS, ''),
  rejections: bulk('rejections', 'rejections', REJECT_COLS,
    'ON CONFLICT (device_id, reason) DO UPDATE SET count = rejections.count + excluded.count'),
  late: bulk('late', 'late_readings', LATE_COLS, ''),
  batch: bulk('batch', 'batch_log', BATCH_COLS, updateAll('instance_id, batch', BATCH_COLS)),
  panes: bulk('panes', 'panes', PANE_COLS, updateAll('instance_id, length_ms, slide_ms, start, key', PANE_COLS)),
  detectors: bulk('detectors', 'detector_state', DETECTOR_COLS, updateAll('instance_id, device_id', DETECTOR_COLS)),
  dedupe: bulk('dedupe', 'dedupe', DEDUPE_COLS, updateAll('instance_id, device_id', DEDUPE_COLS)),
  dedupeIds: bulk('dedupe_ids', 'dedupe_ids', DEDUPE_ID_COLS, updateAll('instance_id, device_id', DEDUPE_ID_COLS)),
  checkpoint: bulk('checkpoint', 'checkpoint', CHECKPOINT_COLS, updateAll('instance_id', CHECKPOINT_COLS)),
};
const DELETE_PANES = {
  name: 'ts_commit_pane_deletes',
  text: `DELETE FROM panes p USING unnest($2::bigint[], $3::bigint[], $4::text[], $5::bigint[]) AS d(l, s, k, st)
    WHERE p.instance_id = $1 AND p.length_ms = d.l AND p.slide_ms = d.s AND p.key = d.k AND p.start = d.st`,
};
const DELETE_DEDUPE = { name: 'ts_commit_dedupe_deletes', text: 'DELETE FROM dedupe WHERE instance_id = $1 AND device_id = ANY($2::text[])' };
const DELETE_DEDUPE_IDS = { name: 'ts_commit_dedupe_id_deletes', text: 'DELETE FROM dedupe_ids WHERE instance_id = $1 AND device_id = ANY($2::text[])' };

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

/**
 * Rows (arrays of values) into column arrays and one statement. ON CONFLICT DO UPDATE may touch a row once per
 * statement: rows with the same key (`keyOf`) keep the last, as one statement per row would leave it.
 */
async function write(c: pg.PoolClient, s: Bulk, rows: unknown[][], keyWidth = 0): Promise<void> {
  if (rows.length === 0) return;
  let unique = rows;
  if (keyWidth > 0) {
    const byKey = new Map<string, unknown[]>();
    for (const r of rows) {
      let k = String(r[0]);
      for (let j = 1; j < keyWidth; j++) k += `\u0000${r[j]}`;
      byKey.set(k, r);
    }
    if (byKey.size < rows.length) unique = [...byKey.values()];
  }
  const values: string[] = [];
  const column = new Array<unknown>(unique.length);
  for (let j = 0; j < s.width; j++) {
    for (let i = 0; i < unique.length; i++) column[i] = unique[i][j];
    values.push(s.encoders[j](column));
  }
  await c.query({ name: s.name, text: s.text, values });
}

/** The batch's statements: outputs first, then (after the fault hook) the state and the checkpoint. */
export function commitStatements(instanceId: string) {
  return {
    async outputs(c: pg.PoolClient, out: BatchOutput): Promise<void> {
      const windows = out.windows.deviceIds.map((_, i) => windowRowValues(out.windows, i, out.committedAt));
      const fleet = out.windows.fleet.map((w) => partialValues(instanceId, w, out.committedAt));
      await write(c, STATEMENTS.windows, windows, 4);
      // fleet key: (instance, length, slide, start) are the first four values
      await write(c, STATEMENTS.fleet, fleet, 4);
      const intervals: unknown[][] = [];
      const points: unknown[][] = [];
      const atKey = new Map<string, number>();
      for (const a of out.anomalies) {
        const point = a.start === null;
        let n = 0;
        if (point) {
          const key = `${a.deviceId}\u0000${a.type}\u0000${a.ts}`;
          n = atKey.get(key) ?? 0;
          atKey.set(key, n + 1);
        }
        (point ? points : intervals).push([
          a.deviceId, a.type, a.ts, n, fin(a.score) ?? 0, a.value, a.expected, a.threshold, a.start, a.end, a.detectedAt, out.committedAt,
        ]);
      }
      await write(c, STATEMENTS.intervals, intervals, 4);
      await write(c, STATEMENTS.points, points);
      await write(c, STATEMENTS.devices, mergeDevices(out));
      if (out.deadLetters.length > 0) {
        await write(c, STATEMENTS.deadLetters, out.deadLetters.map((d) => [
          d.receivedAt, d.deviceId, d.topic, d.reason, d.detail, d.payload, d.payloadBytes,
        ]));
        const counts = new Map<string, [string, string, number]>();
        for (const d of out.deadLetters) {
          const device = d.deviceId ?? '';
          const k = `${device}\u0000${d.reason}`;
          const e = counts.get(k);
          if (e === undefined) counts.set(k, [device, d.reason, 1]);
          else e[2]++;
        }
        await write(c, STATEMENTS.rejections, [...counts.values()]);
      }
      await write(c, STATEMENTS.late, out.late.map((r) => [
        r.deviceId, r.ts, r.arrival, r.temperature, r.humidity ?? null, r.seq ?? null, fin(out.lateWatermark ?? out.checkpoint.watermark),
      ]));
      const w = out.checkpoint.watermark;
      await write(c, STATEMENTS.batch, [[
        instanceId, out.checkpoint.batches, out.committedAt, out.records ?? 0, out.late.length, out.duplicates ?? 0,
        out.deadLetters.length, windowCount(out.windows), fin(w), out.checkpoint.logOffset,
      ]]);
    },

    async state(c: pg.PoolClient, out: BatchOutput): Promise<void> {
      // The state rows are read once, each one's bytes copied (rows.ts: a row's bytes may be a reused buffer).
      const p = out.panes;
      await write(c, STATEMENTS.panes, mapRows(p.upserts, (r) => [instanceId, r.lengthMs, r.slideMs, r.key, r.start, Buffer.from(r.state)]), 5);
      const deletes = mapRows(p.deletes, (d) => d);
      if (deletes.length > 0) {
        await c.query({ ...DELETE_PANES, values: [instanceId, deletes.map((d) => d.lengthMs), deletes.map((d) => d.slideMs), deletes.map((d) => d.key), deletes.map((d) => d.start)] });
      }
      await write(c, STATEMENTS.detectors, mapRows(out.detectors, (d) => [instanceId, d.deviceId, Buffer.from(d.state)]), 2);
      const dd = out.dedupe;
      await write(c, STATEMENTS.dedupe, mapRows(dd.seqs, (d) => [instanceId, d.deviceId, d.maxSeq, fin(d.maxTs), Buffer.from(d.seen), fin(d.lastSeen)]), 2);
      if (dd.evictedSeqs.length > 0) await c.query({ ...DELETE_DEDUPE, values: [instanceId, [...dd.evictedSeqs]] });
      await write(c, STATEMENTS.dedupeIds, dd.messageIds.map((d) => [instanceId, d.deviceId, d.ids, fin(d.lastSeen)]), 2);
      if (dd.evictedMessageIds.length > 0) await c.query({ ...DELETE_DEDUPE_IDS, values: [instanceId, [...dd.evictedMessageIds]] });
      const k = out.checkpoint;
      await write(c, STATEMENTS.checkpoint, [[
        instanceId, k.logOffset, k.job, fin(k.watermark), fin(k.maxEventTime), k.batches, out.committedAt,
      ]]);
    },
  };
}

/** One row per device (a batch's device deltas are per device already; folded as the upsert would fold them). */
function mergeDevices(out: BatchOutput): unknown[][] {
  const byId = new Map<string, unknown[]>();
  for (const d of out.devices) {
    const e = byId.get(d.deviceId) as [string, number, number, number, number, number] | undefined;
    if (e === undefined) {
      byId.set(d.deviceId, [d.deviceId, d.firstSeen, d.lastSeen, d.readings, d.lastTemperature, d.lastTs]);
      continue;
    }
    e[1] = Math.min(e[1], d.firstSeen);
    e[2] = Math.max(e[2], d.lastSeen);
    e[3] += d.readings;
    if (d.lastTs >= e[5]) [e[4], e[5]] = [d.lastTemperature, d.lastTs];
  }
  return [...byId.values()];
}
