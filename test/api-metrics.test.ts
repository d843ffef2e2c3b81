import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Thermostream } from '../server/main.ts';
import { connect, startServer, waitForRecords } from './helpers.ts';

interface Family {
  type: string;
  help: string;
  samples: Map<string, number>; // `name{labels}` → value
}

/** Prometheus text exposition format 0.0.4: every sample belongs to a family with HELP and TYPE; values are floats. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { type: '', help: '', samples: new Map() }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m !== null) {
      if (m[1] === 'HELP') family(m[2]).help = m[3];
      else {
        assert.match(m[3], /^(counter|gauge|histogram|summary|untyped)$/, line);
        family(m[2]).type = m[3];
      }
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)( -?\d+)?$/i.exec(line);
    assert.ok(m !== null, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const name = m[1];
    const base = [...families.keys()].find((f) => name === f || (/_(bucket|sum|count)$/.test(name) && name.replace(/_(bucket|sum|count)$/, '') === f));
    assert.ok(base !== undefined, `${name} has no # TYPE`);
    const raw = m[3].toLowerCase(); // Prometheus parses floats as Go does: NaN and Inf in any case
    const v = raw === '+inf' ? Infinity : raw === '-inf' ? -Infinity : raw === 'nan' ? NaN : Number(raw);
    families.get(base)!.samples.set(name + (m[2] ?? ''), v);
  }
  for (const [name, f] of families) assert.ok(f.type && f.help, `${name} has HELP and TYPE`);
  return families;
}

async function scrape(app: Thermostream): Promise<Map<string, number>> {
  const res = await app.http.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const samples = new Map<string, number>();
  for (const f of parsePrometheus(res.body).values()) for (const [k, v] of f.samples) samples.set(k, v);
  return samples;
}

test('/metrics parses as Prometheus text and its counters move as readings flow', async (t) => {
  const app = await startServer(t);
  const before = await scrape(app);
  for (const name of [
    'thermostream_readings_accepted_total',
    'thermostream_readings_processed_total',
    'thermostream_readings_late_total',
    'thermostream_readings_duplicate_total',
    'thermostream_batches_total',
    'thermostream_log_backlog_records',
    'thermostream_held_acks',
    'thermostream_watermark_lag_seconds',
    'thermostream_mqtt_connected_clients',
    'thermostream_sse_clients',
    'thermostream_batch_processing_seconds_count',
    'thermostream_batch_scheduling_delay_seconds_count',
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
  ]) {
    assert.ok(before.has(name), name);
  }
  assert.equal(before.get('thermostream_readings_accepted_total'), 0);
  assert.equal(before.get('thermostream_mqtt_connected_clients'), 0);

  const mqtt = await connect(t, app.mqttUrl);
  const now = Date.now();
  for (let i = 1; i <= 10; i++) await mqtt.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: now + i, temperature: 20, seq: i }), { qos: 1 });
  await mqtt.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: now + 1, temperature: 20, seq: 1 }), { qos: 1 }); // duplicate
  await mqtt.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: now + 11, temperature: 20, messageId: 'a' }), { qos: 1 });
  await mqtt.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: now + 11, temperature: 20, messageId: 'a' }), { qos: 1 }); // duplicate too
  await mqtt.publishAsync('devices/m1/telemetry', 'nope', { qos: 1 });
  await mqtt.publishAsync('devices/m1/telemetry', 'nope', { qos: 1 });
  await mqtt.publishAsync('devices/m1/telemetry', '{"temperature":"x"}', { qos: 1 });
  await waitForRecords(app, 11);
  await mqtt.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: now - 3_600_000, temperature: 20 }), { qos: 1 }); // late
  await waitForRecords(app, 12);

  const after = await scrape(app);
  const moved = (name: string) => after.get(name)! - (before.get(name) ?? 0);
  assert.equal(moved('thermostream_readings_accepted_total'), 14);
  assert.equal(moved('thermostream_readings_processed_total'), 12);
  assert.equal(moved('thermostream_readings_duplicate_total'), 2);
  // Its help names both keys it counts, as the README's Metrics table does.
  const help = /^# HELP thermostream_readings_duplicate_total (.*)$/m.exec((await app.http.inject({ method: 'GET', url: '/metrics' })).body)?.[1];
  assert.equal(help, 'Readings dropped as duplicates, by (deviceId, seq) or (deviceId, messageId), since start.');
  assert.equal(moved('thermostream_readings_late_total'), 1);
  assert.equal(after.get('thermostream_readings_rejected_total{reason="not_json"}'), 2);
  assert.equal(after.get('thermostream_readings_rejected_total{reason="wrong_type"}'), 1);
  assert.ok(moved('thermostream_batches_total') > 0);
  assert.ok(moved('thermostream_batch_processing_seconds_count') > 0);
  assert.equal(after.get('thermostream_batch_processing_seconds_bucket{le="+Inf"}'), after.get('thermostream_batch_processing_seconds_count'));
  assert.equal(after.get('thermostream_mqtt_connected_clients'), 1);
  assert.equal(after.get('thermostream_log_backlog_records'), 0);
  assert.equal(after.get('thermostream_held_acks'), 0);
  assert.ok(after.get('thermostream_watermark_lag_seconds')! > 0);
  // The batch thread's own heap, as of the last batch.
  const used = after.get('thermostream_batch_thread_heap_used_bytes')!;
  assert.ok(used > 0 && used <= after.get('thermostream_batch_thread_heap_total_bytes')!, `heap used ${used}`);
  assert.ok(after.get('thermostream_batch_thread_array_buffers_bytes')! > 0);
});

/**
 * Makes `dir` refuse new entries for real: immutable as root (chattr +i), read-only permissions otherwise.
 * Returns the error a new entry then gets and an idempotent undo (also run when the test ends), or null.
 */
function freezeDir(t: TestContext, dir: string): { error: string; thaw: () => void } | null {
  let frozen = true;
  let undo: () => void;
  let error: string;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    } catch {
      return null;
    }
    undo = () => execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
    error = 'EPERM: operation not permitted';
  } else {
    chmodSync(dir, 0o555);
    undo = () => chmodSync(dir, 0o755);
    error = 'EACCES: permission denied';
  }
  const thaw = () => {
    if (frozen) undo();
    frozen = false;
  };
  t.after(thaw);
  return { error, thaw };
}

test('/readyz answers 503 with the reason while the store cannot write, and ready again once it can', async (t) => {
  const app = await startServer(t);
  const ready = await app.http.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual([ready.statusCode, ready.json()], [200, { status: 'ready', reasons: [] }]);

  const dir = join(app.dbFile, '..');
  const frozen = freezeDir(t, dir);
  if (frozen === null) return t.skip('cannot make a directory read-only here (chattr unavailable)');
  try {
    const res = await app.http.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), {
      status: 'not ready',
      reasons: [`store: cannot write to ${app.dbFile}: ${frozen.error}, mkdir '${join(dir, '.write-probe')}'`],
    });
  } finally {
    frozen.thaw(); // before the temp dir is removed (after-hooks run in the order they were added)
  }
  const again = await app.http.inject({ method: 'GET', url: '/readyz' });
  assert.deepEqual([again.statusCode, again.json()], [200, { status: 'ready', reasons: [] }]);
  // /docs says what the probe does as README does: a directory (the mkdir above), not a file.
  const doc = (await app.http.inject({ method: 'GET', url: '/docs/json' })).json();
  assert.match(doc.paths['/readyz'].get.description, /^Writes one row to the store \(SQLite or PostgreSQL\) and creates \(and removes\) a directory in the data directory/);
});
