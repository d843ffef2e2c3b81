/** SQLite schema. Times are epoch ms UTC; fleet-wide windows are partials per instance in fleet_windows. */
export const SCHEMA_VERSION = 12;
/*
 * History (migrate.ts brings older databases up; a new table needs nothing, SCHEMA creates what is missing):
 *   1  windows, devices, dead letters, late readings
 *   2  checkpoint, panes, dedupe
 *   3  dedupe.last_seen (eviction of idle devices), dedupe_ids (message ids of readings without seq)
 *   4  windows with first, humidity stddev/first/last and anomaly counts by type; anomalies; detector_state
 *   5  instances: checkpoint, panes, dedupe, dedupe_ids, detector_state and batch_log keyed by instance_id (rows of
 *      version 4 become instance 'main's); fleet windows move from windows (device_id '*') to fleet_windows,
 *      partial aggregates per instance (migrate.ts derives the sums of old rows from avg and stddev)
 *   6  panes keyed by start before key: the panes a batch changes (most of them share one start per window shape)
 *      are neighbours in the table, so a batch's checkpoint writes a few pages instead of one per device
 *   7  windows keyed by shape and start before device, for the same reason: a batch's windows (most of them share a
 *      start per shape) fill a few pages. Keyed by device first, they were on every leaf page of a table that grows
 *      all the time, so each batch's commit wrote more pages than the one before (queries.ts reads a device's windows
 *      by their aligned starts)
 *   8  retention deletes windows and fleet windows by updated_at (when they were computed, not their event time): the
 *      indexes by end, which only retention read, are dropped (one index less to write per window row)
 *   9  anomalies keyed by (device, type, ts, n): n numbers a device's point anomalies of one type at one ts (readings
 *      of one message without ts share its arrival time), which overwrote each other under (device, type, ts)
 *  10  dead_letters.payload holds the payload's bytes (BLOB), not their UTF-8 decoding, which turned every byte of a
 *      payload that is not UTF-8 into U+FFFD; the text of older rows becomes its UTF-8 bytes
 *  11  devices, panes, dedupe, dedupe_ids and detector_state keyed by first_batch (the batch that wrote the row
 *      first) before the device (for panes: before the key, after the shape and start), found by a unique index on
 *      the old key: a batch's rows are those of the devices that reported in it, which (a fleet reporting every N
 *      seconds) are the devices that reported first in the same batch as each other, so they are neighbours in the
 *      table and a batch's commit writes a few pages instead of most of them (rows of version 10 get first_batch 0 and
 *      stay there: panes go as their windows close, a device's other rows keep the old order)
 *  12  no table changes: a pane holding one reading and no anomaly is checkpointed as that reading (panes.state of 3
 *      doubles: temperature, ts, humidity), not as its 19-double aggregate; the version is what makes an older
 *      Thermostream, which would misread such rows, refuse the database
 */

/**
 * Statements run before SCHEMA when a database goes from version v to v + 1. 3 → 4: windows gained columns and may
 * hold windows without readings (only anomalies); the old rows belong to a job definition that the checkpoint check
 * refuses anyway (--fresh discards them), so the table is recreated.
 */
export const MIGRATIONS: Record<number, string> = {
  3: 'DROP TABLE IF EXISTS windows;',
  7: 'DROP INDEX IF EXISTS windows_by_end; DROP INDEX IF EXISTS fleet_windows_by_end;',
};

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS windows (
  device_id    TEXT    NOT NULL,
  length_ms    INTEGER NOT NULL,
  slide_ms     INTEGER NOT NULL,
  start        INTEGER NOT NULL,
  end          INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  avg          REAL,
  min          REAL,
  max          REAL,
  stddev       REAL,
  first        REAL,
  last         REAL,
  humidity_count  INTEGER NOT NULL,
  humidity_avg    REAL,
  humidity_min    REAL,
  humidity_max    REAL,
  humidity_stddev REAL,
  humidity_first  REAL,
  humidity_last   REAL,
  anomalies    INTEGER NOT NULL,
  -- JSON object: anomaly type -> count, the types with a count ({} for none; rows written before list every type).
  anomaly_counts TEXT NOT NULL,
  final        INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (length_ms, slide_ms, start, device_id)
) WITHOUT ROWID;

-- Keyed by the batch that first wrote a device's row, as the state tables below (version 11), found by device_id.
CREATE TABLE IF NOT EXISTS devices (
  first_batch      INTEGER NOT NULL DEFAULT 0,
  device_id        TEXT    NOT NULL,
  first_seen       INTEGER NOT NULL,
  last_seen        INTEGER NOT NULL,
  readings         INTEGER NOT NULL,
  last_temperature REAL    NOT NULL,
  last_ts          INTEGER NOT NULL,
  PRIMARY KEY (first_batch, device_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS devices_by_id ON devices (device_id);

CREATE TABLE IF NOT EXISTS dead_letters (
  id            INTEGER PRIMARY KEY,
  received_at   INTEGER NOT NULL,
  device_id     TEXT,
  topic         TEXT    NOT NULL,
  reason        TEXT    NOT NULL,
  detail        TEXT    NOT NULL,
  -- The payload's first ingest.deadLetterPayloadChars bytes, as received (version 10).
  payload       BLOB    NOT NULL,
  payload_bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_device ON dead_letters (device_id, id);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (received_at);

CREATE TABLE IF NOT EXISTS rejections (
  device_id TEXT    NOT NULL,
  reason    TEXT    NOT NULL,
  count     INTEGER NOT NULL,
  PRIMARY KEY (device_id, reason)
) WITHOUT ROWID;

-- The checkpoint: the log offset consumed, the job it belongs to, and the operator state (panes, dedupe) as of
-- that offset. Written in the same transaction as the batch's outputs.
CREATE TABLE IF NOT EXISTS checkpoint (
  instance_id    TEXT PRIMARY KEY,
  log_offset     INTEGER NOT NULL,
  job            TEXT,
  watermark      REAL,
  max_event_time REAL,
  batches        INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- The state tables below are keyed by first_batch, the batch that wrote the row first, before the device (version
-- 11): the devices a batch updates are, in a fleet reporting every N seconds, those that first reported in one batch
-- together, so their rows are neighbours. A unique index by the device finds a row to update or delete.
CREATE TABLE IF NOT EXISTS panes (
  instance_id TEXT  NOT NULL,
  length_ms INTEGER NOT NULL,
  slide_ms  INTEGER NOT NULL,
  key       TEXT    NOT NULL,
  start     INTEGER NOT NULL,
  first_batch INTEGER NOT NULL DEFAULT 0,
  state     BLOB    NOT NULL,
  -- start first: a batch's changed panes (one start per shape for most devices) are neighbours (version 6).
  PRIMARY KEY (instance_id, length_ms, slide_ms, start, first_batch, key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS panes_by_key ON panes (instance_id, length_ms, slide_ms, start, key);

CREATE TABLE IF NOT EXISTS dedupe (
  instance_id TEXT  NOT NULL,
  device_id TEXT    NOT NULL,
  first_batch INTEGER NOT NULL DEFAULT 0,
  max_seq   INTEGER NOT NULL,
  max_ts    REAL,
  seen      BLOB    NOT NULL,
  last_seen REAL,
  PRIMARY KEY (instance_id, first_batch, device_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS dedupe_by_device ON dedupe (instance_id, device_id);

-- Message ids (as 52-bit hashes, 8 bytes each, oldest first) of devices that send readings without seq.
CREATE TABLE IF NOT EXISTS dedupe_ids (
  instance_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  first_batch INTEGER NOT NULL DEFAULT 0,
  ids       BLOB NOT NULL,
  last_seen REAL,
  PRIMARY KEY (instance_id, first_batch, device_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS dedupe_ids_by_device ON dedupe_ids (instance_id, device_id);

-- Anomalies, one row per flagged reading or interval: n numbers a device's point anomalies of one type at one ts
-- (0, 1, …, in the order they were found); an interval anomaly (stuck, drift, dropout) has n 0, is written when it
-- opens (end NULL) and updated when it closes. Written in the batch transaction with the windows and the checkpoint.
CREATE TABLE IF NOT EXISTS anomalies (
  device_id   TEXT    NOT NULL,
  type        TEXT    NOT NULL,
  ts          INTEGER NOT NULL,
  n           INTEGER NOT NULL DEFAULT 0,
  score       REAL    NOT NULL,
  value       REAL,
  expected    REAL,
  threshold   REAL,
  start       INTEGER,
  end         INTEGER,
  detected_at INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (device_id, type, ts, n)
) WITHOUT ROWID;
-- Newest first, with or without a device/type filter; retention by ts.
CREATE INDEX IF NOT EXISTS anomalies_by_ts ON anomalies (ts, device_id, type, n);
CREATE INDEX IF NOT EXISTS anomalies_by_device ON anomalies (device_id, ts);
-- The SSE stream's replay after a restart: what batches committed since an event id wrote.
CREATE INDEX IF NOT EXISTS anomalies_by_update ON anomalies (updated_at);

-- Per-device detector state (baselines, open anomalies), part of the checkpoint.
CREATE TABLE IF NOT EXISTS detector_state (
  instance_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  first_batch INTEGER NOT NULL DEFAULT 0,
  state     BLOB NOT NULL,
  PRIMARY KEY (instance_id, first_batch, device_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS detector_state_by_device ON detector_state (instance_id, device_id);

CREATE TABLE IF NOT EXISTS late_readings (
  id          INTEGER PRIMARY KEY,
  device_id   TEXT    NOT NULL,
  ts          INTEGER NOT NULL,
  arrival     INTEGER NOT NULL,
  temperature REAL    NOT NULL,
  humidity    REAL,
  seq         INTEGER,
  watermark   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS late_readings_by_arrival ON late_readings (arrival);
-- A device's late readings, newest first (GET /api/v1/late-readings?deviceId=).
CREATE INDEX IF NOT EXISTS late_readings_by_device ON late_readings (device_id, id);

-- One row per committed batch (same transaction): the SSE stream's Last-Event-ID resume reads the batches after the
-- client's, and the windows they updated by updated_at = committed_at. Pruned with the windows.
CREATE TABLE IF NOT EXISTS batch_log (
  instance_id     TEXT    NOT NULL,
  batch           INTEGER NOT NULL,
  committed_at    INTEGER NOT NULL,
  records         INTEGER NOT NULL,
  late            INTEGER NOT NULL,
  duplicates      INTEGER NOT NULL,
  rejected        INTEGER NOT NULL,
  windows_updated INTEGER NOT NULL,
  watermark       REAL,
  log_offset      INTEGER NOT NULL,
  PRIMARY KEY (instance_id, batch)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS batch_log_by_time ON batch_log (committed_at);
-- The SSE stream's replay and retention read windows by when they were computed.
CREATE INDEX IF NOT EXISTS windows_by_update ON windows (updated_at);

-- Fleet-wide windows: each instance's partial aggregate (sums, not averages, so that reads merge them exactly).
CREATE TABLE IF NOT EXISTS fleet_windows (
  instance_id  TEXT    NOT NULL,
  length_ms    INTEGER NOT NULL,
  slide_ms     INTEGER NOT NULL,
  start        INTEGER NOT NULL,
  end          INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  sum          REAL    NOT NULL,
  sum_sq       REAL    NOT NULL,
  min          REAL,
  max          REAL,
  first        REAL,
  first_ts     REAL,
  last         REAL,
  last_ts      REAL,
  humidity_count    INTEGER NOT NULL,
  humidity_sum      REAL    NOT NULL,
  humidity_sum_sq   REAL    NOT NULL,
  humidity_min      REAL,
  humidity_max      REAL,
  humidity_first    REAL,
  humidity_first_ts REAL,
  humidity_last     REAL,
  humidity_last_ts  REAL,
  anomalies    INTEGER NOT NULL,
  anomaly_counts TEXT  NOT NULL,
  final        INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (length_ms, slide_ms, start, instance_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fleet_windows_by_update ON fleet_windows (updated_at);

-- /readyz writes here to prove the store accepts writes.
CREATE TABLE IF NOT EXISTS health_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL
);
`;
