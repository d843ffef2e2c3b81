import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getJson, startServer, tempDir, waitFor } from './helpers.ts';
import { oracleWindows } from './server-process.ts';
import { runSimulator as simulate } from './simulator-helpers.ts';
import { loadRecording } from '../simulator/replay.ts';
import { replayWarnings } from '../simulator/replay-warnings.ts';
import { replayInput } from '../simulator/replay-fields.ts';
import { timestampWarnings } from '../simulator/replay-times.ts';

/** Each run of the simulator with these arguments is refused (exit 2) with a message matching its pattern. */
async function refusedAll(cases: readonly [string[], RegExp][]): Promise<void> {
  for (const [args, message] of cases) {
    const run = await simulate(args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
}

test('--replay publishes a recording (as --out writes it) unchanged: the server computes the windows the file holds', { timeout: 90_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'recording.jsonl');
  // A recording of six hours ago: 4 devices, 400 readings, one every 2 s of event time per device.
  const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 6 * 3_600_000).toISOString();
  const made = await simulate(['--out', file, '--devices', '4', '--rate', '2', '--count', '400', '--start', start, '--speedup', '1', '--quiet']);
  assert.equal(made.code, 0, made.stderr);
  const recorded = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { deviceId: string; ts: string; temperature: number });

  const app = await startServer(t);
  const run = await simulate(['--replay', file, '--url', app.mqttUrl, '--rate', '2000', '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.deepEqual([summary.devices, summary.generated, summary.acknowledged, summary.lost], [4, 400, 400, 0]);
  assert.equal(summary.firstTs, recorded[0].ts);

  await waitFor('the recording processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === 400);
  const readings = recorded.map((r) => ({ deviceId: r.deviceId, ts: Date.parse(r.ts), temperature: r.temperature }));
  const oracle = [...oracleWindows(readings, 60_000, 10_000).values()].filter((w) => w.deviceId === 'thermostat-0001');
  const url = `${app.httpUrl}/api/v1/windows?deviceId=thermostat-0001&length=60000&slide=10000&from=${new Date(Date.parse(start) - 60_000).toISOString()}&to=${recorded.at(-1)!.ts}&limit=10000`;
  // Open windows are stored up to a slide behind (openWindowRefresh "slide"); once input is idle, every one is final.
  const items = await waitFor('the windows final', async () => {
    const page = (await getJson(url)).body.items as { start: string; count: number; min: number; max: number; final: boolean }[];
    return page.length > 0 && page.every((w) => w.final) ? page : null;
  }, 40_000);
  const served = items.map((w) => ({ start: Date.parse(w.start), count: w.count, min: w.min, max: w.max }));
  const expected = oracle.map((w) => ({ start: w.start, count: w.count, min: w.min, max: w.max })).sort((a, b) => a.start - b.start);
  assert.deepEqual(served.sort((a: { start: number }, b: { start: number }) => a.start - b.start), expected);
});

test('--replay keeps the file\'s order: a time-ordered recording of 20 devices, 4,000 records/s in batches of 10, leaves nothing late', { timeout: 60_000 }, async (t) => {
  const file = join(tempDir(t), 'fleet.jsonl');
  // 200 s of event time, a record every 50 ms across the fleet: replayed in 1 s, the 10 s of lateness are 50 ms of wall
  // time, less than records of different devices would drift apart over several connections or in per-device batches.
  const made = await simulate(['--out', file, '--devices', '20', '--rate', '20', '--count', '4000', '--start', '2026-11-24T10:00:00Z', '--quiet']);
  assert.equal(made.code, 0, made.stderr);
  const app = await startServer(t);
  const run = await simulate(['--replay', file, '--url', app.mqttUrl, '--rate', '4000', '--batch-size', '10', '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  const stats = await waitFor('the recording processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records + s.late === 4000 ? s : null;
  });
  assert.equal(stats.late, 0);
});

test('--replay of a recording out of time order by more than the default lateness says so before it sends; the server counts them late', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const sorted = join(dir, 'by-device.csv');
  // Sorted by device: b's first record is 40 s behind a's last (written with a whole hour's offset, +01, as the
  // server reads it); b's first two are more than 10 s behind it.
  writeFileSync(sorted, 'deviceId,ts,temperature\na,2026-11-24T10:00:00Z,20\na,2026-11-24T11:00:40+01,21\nb,2026-11-24T10:00:00Z,22\nb,2026-11-24T10:00:20Z,23\nb,2026-11-24T10:00:35Z,24\n');
  const inOrder = join(dir, 'in-order.csv');
  writeFileSync(inOrder, 'deviceId,ts,temperature\na,2026-11-24T10:00:05Z,20\nb,2026-11-24T10:00:00Z,21\na,2026-11-24T10:00:10Z,22\n'); // 5 s back: within the lateness
  const app = await startServer(t);
  const run = await simulate(['--replay', sorted, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, `simulator: warning: --replay ${sorted} is not in time order: line 4 (2026-11-24T10:00:00.000Z) is 40 s behind the newest record before it ` +
    '(2026-11-24T10:00:40.000Z), and 2 of its 5 records are more than 10 s behind one before them: a server with the default allowed lateness counts such ' +
    'records as late (GET /api/v1/stats, "late"; kept, in no window). Sort it by ts, or raise the server\'s allowedLatenessMs (docs/SIMULATOR.md, "Replaying a recording")\n');
  const stats = await waitFor('the recording processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records === 5 ? s : null;
  });
  assert.ok(stats.late >= 1 && stats.late <= 2, `late ${stats.late}`);
  const quiet = await simulate(['--replay', inOrder, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([quiet.code, quiet.stderr], [0, '']);
});

test('--replay of a CSV: cells that read as numbers go as numbers, the rest as recorded; the server dead-letters the bad records', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'recording.csv');
  const at = (s: number) => new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + s * 1000).toISOString();
  writeFileSync(
    file,
    '\uFEFFdeviceId,ts,temperature,humidity,seq\r\n' +
      `lab-1,${at(0)},21.5,40,1\r\n` +
      `lab-2,${at(1)},22,,1\r\n` + // no humidity
      `lab-1,${at(2)},"hot",41,2\r\n` + // a string: wrong_type on the server
      `lab-2,${Math.floor(Date.parse(at(3)) / 1000)},22.5,,2\r\n` + // epoch seconds: bad_timestamp
      '\r\n' +
      `lab-1,${at(4)},21.75,42,3\r\n`,
  );
  // The server waited for the recording longer than its allowed lateness: before the first reading, idle time does
  // not move the watermark, so the hour-old recording is not late.
  const app = await startServer(t, { allowedLatenessMs: 500 });
  await new Promise((r) => setTimeout(r, 1500));
  const run = await simulate(['--replay', file, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).acknowledged, 5);
  const stats = await waitFor('the recording processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records === 3 && s.rejected.total === 2 ? s : null;
  });
  assert.equal(stats.late, 0);
  assert.deepEqual(stats.rejected.byReason, { wrong_type: 1, bad_timestamp: 1 });
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices`)).body.items;
  assert.deepEqual(devices.map((d: { deviceId: string; readings: number; lastTemperature: number }) => [d.deviceId, d.readings, d.lastTemperature]), [
    ['lab-1', 2, 21.75],
    ['lab-2', 1, 22],
  ]);
});

test('--replay of a CSV with a messageId column of digits: the ids go as the strings they are, so the server dedupes the resends and rejects nothing', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'ids.csv');
  const at = (s: number) => new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + s * 1000).toISOString();
  // Gateways number their messages: 1001, 1002… (quoted or not, a CSV cell of digits reads the same).
  writeFileSync(file, `deviceId,ts,temperature,messageId\nlab-1,${at(0)},21.5,1001\nlab-1,${at(5)},21.75,"1002"\nlab-1,${at(10)},22,0003\n`);
  const app = await startServer(t);
  // Every record sent twice: only a messageId tells the second copy from a new reading.
  const run = await simulate(['--replay', file, '--url', app.mqttUrl, '--duplicate-fraction', '1', '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).acknowledged, 6);
  const stats = await waitFor('the recording processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records + s.duplicates + s.rejected.total === 6 ? s : null;
  });
  assert.deepEqual([stats.records, stats.duplicates, stats.rejected.total], [3, 3, 0]);
});

test('--replay refuses a recording it cannot route, naming the lines, and options that would make readings up (exit 2)', async (t) => {
  const dir = tempDir(t);
  const jsonl = join(dir, 'bad.jsonl');
  writeFileSync(jsonl, '{"deviceId":"a","temperature":1}\nnope\n{"temperature":2}\n{"deviceId":"bad id","temperature":3}\n');
  const ragged = join(dir, 'ragged.csv');
  writeFileSync(ragged, 'deviceId,temperature\na,"multi\nline"\nb\nc,"unclosed\n');
  const twice = join(dir, 'twice.csv');
  writeFileSync(twice, 'deviceId,ts,deviceId\na,1,b\n');
  writeFileSync(join(dir, 'noseq.jsonl'), '{"deviceId":"a","temperature":1,"seq":1}\n{"deviceId":"a","temperature":2}\n');
  const someTs = join(dir, 'some-ts.csv');
  writeFileSync(someTs, 'deviceId,ts,temperature\na,2026-11-29T10:00:00Z,1\na,,2\na,2026-11-29T10:00:20Z,3\n');
  const nullTs = join(dir, 'null-ts.jsonl');
  writeFileSync(nullTs, '{"deviceId":"a","ts":"2026-11-29T10:00:00Z","temperature":1}\n{"deviceId":"a","ts":null,"temperature":2}\n');
  const csv = join(dir, 'no-id.csv');
  writeFileSync(csv, 'device,temperature\nx,1\n');
  writeFileSync(join(dir, 'empty.csv'), '');
  writeFileSync(join(dir, 'blank.jsonl'), '\uFEFF\r\n\r\n');
  writeFileSync(join(dir, 'utf16.csv'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('deviceId,temperature\r\na,1\r\n', 'utf16le')]));
  const cases: [string[], RegExp][] = [
    // It was 'expected JSON lines, or CSV whose first line is a header …; line 1 is "��d\u0000e\u0000v…"'.
    [['--replay', join(dir, 'utf16.csv'), '--url', 'mqtt://127.0.0.1:1'], /--replay \S+utf16\.csv: it is UTF-16 \(it starts with the byte order mark FF FE\): save it as UTF-8$/m],
    // An empty file (or blank lines) was 'expected JSON lines, or CSV whose first line is a header …; line 1 is ""'.
    [['--replay', join(dir, 'empty.csv'), '--url', 'mqtt://127.0.0.1:1'], /--replay \S+empty\.csv: it is empty \(no record to send\)$/m],
    [['--replay', join(dir, 'blank.jsonl'), '--url', 'mqtt://127.0.0.1:1'], /--replay \S+blank\.jsonl: it is empty \(no record to send\)$/m],
    [['--replay', jsonl, '--url', 'mqtt://127.0.0.1:1'], /--replay \S+bad\.jsonl: 3 of its records cannot be sent \(each needs a deviceId .*\): line 2: not JSON \("nope"\); line 3: no deviceId; line 4: deviceId "bad id" is not a device id$/m],
    [['--replay', ragged, '--url', 'mqtt://127.0.0.1:1'], /--replay \S+ragged\.csv: 2 of its records cannot be sent .*: line 4: 1 cell under a header of 2; line 5: a quoted cell is not closed$/m],
    [['--replay', twice, '--url', 'mqtt://127.0.0.1:1'], /--replay \S+twice\.csv: the header names "deviceId" twice/],
    [['--replay', someTs, '--url', 'mqtt://127.0.0.1:1'], /--replay \S+some-ts\.csv: 1 of its 3 records has no ts while the others have one \(.*\): give every record a ts, or none: line 3$/m],
    [['--replay', nullTs, '--url', 'mqtt://127.0.0.1:1'], /--replay \S+null-ts\.jsonl: 1 of its 2 records has no ts while the others have one \(.*\): give every record a ts, or none: line 2$/m],
    [['--replay', jsonl.replace('bad', 'noseq'), '--url', 'mqtt://127.0.0.1:1', '--duplicate-fraction', '0.1'], /--duplicate-fraction cannot be used with this --replay over MQTT: 1 of its records has neither seq nor messageId/],
    // In batches over azure a duplicate travels under another batch's message id: only seq identifies it.
    [['--replay', jsonl.replace('bad', 'noseq'), '--transport', 'azure', '--registry', 'http://127.0.0.1:1', '--batch-size', '2', '--duplicate-fraction', '0.1'], /--duplicate-fraction cannot be used with this --replay over --transport azure with --batch-size > 1: 1 of its records has no seq/],
    [['--replay', csv, '--url', 'mqtt://127.0.0.1:1'], /--replay \S+no-id\.csv: expected JSON lines, or CSV whose first line is a header naming a deviceId column; line 1 is "device,temperature"/],
    [['--replay', join(dir, 'missing.csv'), '--url', 'mqtt://127.0.0.1:1'], /--replay \S+missing\.csv: cannot read it \(ENOENT/],
    [['--replay', jsonl], /--replay needs --url/],
    [['--replay', jsonl, '--url', 'mqtt://127.0.0.1:1', '--anomalies', '2'], /--anomalies cannot be used with --replay/],
  ];
  await refusedAll(cases);
});

test('--replay of one JSON array (an export\'s, or Home Assistant\'s history API answer) is refused as such, with how to make it JSON lines', (t) => {
  // It was read as a CSV header: 'its columns: "[{deviceId:a", "ts:1", …; name the one that holds the device id with
  // --fields deviceId=[{deviceId:a'.
  const dir = tempDir(t);
  const array = join(dir, 'export.json');
  writeFileSync(array, '[{"deviceId":"a","ts":1764000000000,"temperature":21.5},\n {"deviceId":"a","ts":1764000005000,"temperature":21.75}]\n');
  const nested = join(dir, 'history.json');
  writeFileSync(nested, '[\n  [\n    {"entity_id":"sensor.a","state":"21.5","last_changed":"2026-11-24T10:00:00+00:00"}\n  ]\n]\n');
  for (const file of [array, nested]) {
    assert.throws(() => loadRecording(file), { message: /: it is a JSON array, not JSON lines \(one object per line\): put one record per line first, e\.g\. jq -c '\.\[\]' \(an array of arrays: '\.\[\]\[\]'\)$/ });
  }
  // A CSV header whose first name is in brackets is still a header.
  writeFileSync(array, '[deviceId],ts,temperature\na,2026-11-24T10:00:00Z,21.5\n');
  assert.deepEqual(loadRecording(array, replayInput({ replay: array, fields: 'deviceId=[deviceId]' })).records.map((r) => r.deviceId), ['a']);
});

test('--replay of a file that is not UTF-8 (a spreadsheet\'s CSV saved as Windows-1252, as Excel does by default in western Europe) is refused, naming its line and byte and how to convert it', (t) => {
  // It was read with U+FFFD for each such byte: '--fields maps deviceId to the column "Gerät", which its header does
  // not have (its columns: "Ger\uFFFDt", …)'.
  const file = join(tempDir(t), 'excel.csv');
  writeFileSync(file, Buffer.from('deviceId;ts;temperature\r\nflur;2026-11-24T10:00:00Z;21,5\r\nk\u00fcche;2026-11-24T10:00:10Z;21,7\r\n', 'latin1'));
  assert.throws(() => loadRecording(file), { message: /: it is not UTF-8 \(line 3 has the byte FC, "\u00fc" in Windows-1252\): save it as UTF-8 \(a spreadsheet's "CSV UTF-8"\), or convert it: iconv -f WINDOWS-1252 -t UTF-8$/ });
  writeFileSync(file, Buffer.from('Ger\u00e4t,ts,temperature\n', 'latin1'));
  assert.throws(() => loadRecording(file), { message: /: it is not UTF-8 \(line 1 has the byte E4, "\u00e4" in Windows-1252\)/ });
  // A line mixing both: its UTF-8 ° is no fault; the Windows-1252 ä after it is named.
  writeFileSync(file, Buffer.concat([Buffer.from('deviceId,ts,temperature,unit\n', 'utf8'), Buffer.from('k\u00fcche', 'latin1'), Buffer.from(',2026-11-24T10:00:00Z,21.5,\u00b0C\n', 'utf8')]));
  assert.throws(() => loadRecording(file), { message: /: it is not UTF-8 \(line 2 has the byte FC, "\u00fc" in Windows-1252\)/ });
  writeFileSync(file, Buffer.concat([Buffer.from('deviceId,ts,temperature,unit\nflur,2026-11-24T10:00:00Z,21.5,\u00b0C ', 'utf8'), Buffer.from('\u00e4', 'latin1'), Buffer.from('\n', 'utf8')]));
  assert.throws(() => loadRecording(file), { message: /: it is not UTF-8 \(line 2 has the byte E4, "\u00e4" in Windows-1252\)/ });
  // UTF-8, a byte order mark or not, is read as before.
  writeFileSync(file, '\uFEFFdeviceId,ts,temperature,note\nflur,2026-11-24T10:00:00Z,21.5,K\u00fcche \u00b0C\n');
  assert.deepEqual(loadRecording(file).records.map((r) => r.recorded?.note), ['K\u00fcche \u00b0C']);
});

test('--replay of a CSV whose lines end with a lone CR (a Mac spreadsheet\'s) reads its records and names their lines', (t) => {
  // Its rows were one header line: 'it holds no record'.
  const dir = tempDir(t);
  const file = join(dir, 'mac.csv');
  writeFileSync(file, 'deviceId,ts,temperature\r' + 'a,2026-11-24T10:00:00Z,21.5\r' + 'b,2026-11-24T10:00:01Z,"2\r\n2"\r');
  const recording = loadRecording(file);
  assert.deepEqual(recording.records.map((r) => [r.line, r.recorded]), [
    [2, { deviceId: 'a', ts: '2026-11-24T10:00:00Z', temperature: 21.5 }],
    [3, { deviceId: 'b', ts: '2026-11-24T10:00:01Z', temperature: '2\r\n2' }],
  ]);
  writeFileSync(file, 'deviceId,ts,temperature\r' + 'a,2026-11-24T10:00:00Z,21.5\r' + 'b,"x\ry",1\r' + 'c\r');
  assert.throws(() => loadRecording(file), { message: /: 1 of its records cannot be sent .*: line 5: 1 cell under a header of 3$/ });
});

test('--replay of a CSV separated by semicolons (a spreadsheet in a decimal-comma locale): its decimal commas are read as numbers', (t) => {
  const file = join(tempDir(t), 'excel-de.csv');
  writeFileSync(file, 'deviceId;ts;temperature;humidity;note\nlab;2026-11-24T10:00:00Z;21,5;40;a,b\nlab;2026-11-24T10:00:05Z;"-0,25";41,125;7\n');
  assert.deepEqual(loadRecording(file).records.map((r) => [r.line, r.temperature, r.humidity, r.recorded]), [
    [2, 21.5, 40, { deviceId: 'lab', ts: '2026-11-24T10:00:00Z', temperature: 21.5, humidity: 40, note: 'a,b' }],
    [3, -0.25, 41.125, { deviceId: 'lab', ts: '2026-11-24T10:00:05Z', temperature: -0.25, humidity: 41.125, note: 7 }],
  ]);
  // A header with a comma is a comma-separated file, as before: a quoted 21,5 stays the text it is.
  writeFileSync(file, 'deviceId,ts,temperature\nlab,2026-11-24T10:00:00Z,"21,5"\n');
  assert.deepEqual(loadRecording(file).records.map((r) => r.recorded?.temperature), ['21,5']);
});

test('--replay of a tab-separated file with a header row (a spreadsheet\'s "Text (Tab delimited)", or its "Unicode Text" saved as UTF-8): its cells are read between the tabs', (t) => {
  // It was 'expected JSON lines, or CSV whose first line is a header naming a deviceId column; line 1 is
  // "deviceId\tts\ttemperature\thumidity\tnote"', a header that names deviceId.
  const file = join(tempDir(t), 'export.txt');
  writeFileSync(file, '\uFEFFdeviceId\tts\ttemperature\thumidity\tnote\r\nlab-1\t2026-11-24T10:00:00Z\t21.5\t\t"a\tb"\r\nlab-2\t2026-11-24T10:00:05Z\t19\t40\tx y\r\n');
  assert.deepEqual(loadRecording(file).records.map((r) => [r.line, r.recorded]), [
    [2, { deviceId: 'lab-1', ts: '2026-11-24T10:00:00Z', temperature: 21.5, note: 'a\tb' }],
    [3, { deviceId: 'lab-2', ts: '2026-11-24T10:00:05Z', temperature: 19, humidity: 40, note: 'x y' }],
  ]);
  // A line with a cell too few is named as in a CSV.
  writeFileSync(file, 'deviceId\tts\ttemperature\nlab-1\t2026-11-24T10:00:00Z\n');
  assert.throws(() => loadRecording(file), { message: /: 1 of its records cannot be sent .*: line 2: 2 cells under a header of 3$/ });
  // --fields maps its columns as a CSV's.
  writeFileSync(file, 'sensor\ttime\ttemp_c\nlab-1\t2026-11-24 10:00:00\t21.5\n');
  const mapped = loadRecording(file, replayInput({ replay: file, fields: 'deviceId=sensor,ts=time,temperature=temp_c', tsZone: 'UTC' }));
  assert.deepEqual(mapped.records.map((r) => r.recorded), [{ deviceId: 'lab-1', ts: '2026-11-24T10:00:00Z', temperature: 21.5 }]);
  // A spreadsheet in a decimal-comma locale writes 21,5: read as numbers, as in its semicolon-separated CSV.
  writeFileSync(file, 'deviceId\tts\ttemperature\thumidity\nlab-1\t2026-11-24T10:00:00Z\t21,5\t40\nlab-1\t2026-11-24T10:00:05Z\t-0,25\t40,5\n');
  assert.deepEqual(loadRecording(file).records.map((r) => [r.temperature, r.humidity]), [[21.5, 40], [-0.25, 40.5]]);
  // One cell written 21.5 says the file's decimal mark is the point: 1,5 then is no number (as in a comma-separated file).
  writeFileSync(file, 'deviceId\tts\ttemperature\tnote\nlab-1\t2026-11-24T10:00:00Z\t21.5\t1,5\n');
  assert.deepEqual(loadRecording(file).records.map((r) => r.recorded?.note), ['1,5']);
});

/** `ms` as the wall time of `zone`, as a building-management export writes it: `2026-03-01 10:00:00.250`, no zone. */
function wallTime(ms: number, zone: string): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}.${String(ms % 1000).padStart(3, '0')}`;
}

test('--replay of a building-management export (its own column names, local times without a zone) with --fields and --ts-zone: the readings are served at the right times', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const app = await startServer(t);
  // Raw readings are served from the server's start on: the recording's times lie between it and now.
  await new Promise((r) => setTimeout(r, 2500));
  const base = Date.now() - 2000;
  const times = [base, base + 500, base + 1000, base + 1500];
  const file = join(dir, 'bms-export.csv');
  writeFileSync(
    file,
    'device_id,timestamp,temp_c,rh,site\n' +
      `1001,${wallTime(times[0], 'Europe/Berlin')},21.5,40.5,HQ\n` +
      `AHU-2.zone3,${wallTime(times[1], 'Europe/Berlin')},19,,HQ\n` +
      `1001,${wallTime(times[2], 'Europe/Berlin')},21.75,41,HQ\n` +
      `AHU-2.zone3,${wallTime(times[3], 'Europe/Berlin')},19.25,38,HQ\n`,
  );
  const fields = 'deviceId=device_id,ts=timestamp,temperature=temp_c,humidity=rh';
  const run = await simulate(['--replay', file, '--fields', fields, '--ts-zone', 'Europe/Berlin', '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([run.code, run.stderr], [0, '']);
  const summary = JSON.parse(run.stdout);
  assert.deepEqual([summary.devices, summary.acknowledged, summary.firstTs, summary.lastTs], [2, 4, new Date(times[0]).toISOString(), new Date(times[3]).toISOString()]);
  await waitFor('the recording processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === 4);
  const served = async (id: string) => {
    // From the first reading on: the range then lies after the server's start, all raw (before rawFrom, the route
    // draws window aggregates at their middles, which may fall a second before the first reading).
    const url = `${app.httpUrl}/api/v1/readings?deviceId=${id}&from=${new Date(base).toISOString()}&to=${new Date(base + 5000).toISOString()}`;
    return ((await getJson(url)).body.items as { ts: string; temperature: number; humidity: number | null; source: string }[]).map((p) => [p.ts, p.temperature, p.humidity, p.source]);
  };
  const iso = (i: number) => new Date(times[i]).toISOString();
  // 1001 is the device's id as written, not a number: a device id column of digits goes as text.
  assert.deepEqual(await served('1001'), [[iso(0), 21.5, 40.5, 'raw'], [iso(2), 21.75, 41, 'raw']]);
  assert.deepEqual(await served('AHU-2.zone3'), [[iso(1), 19, null, 'raw'], [iso(3), 19.25, 38, 'raw']]);

  // Without --ts-zone the times go as recorded: the run says first that the server will refuse them, and it does.
  const bare = await simulate(['--replay', file, '--fields', fields, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(bare.stderr, `simulator: warning: --replay ${file}: 4 of its 4 records have a ts without a zone (line 2: ${JSON.stringify(wallTime(times[0], 'Europe/Berlin'))}), ` +
    'which the server refuses (bad_timestamp): say which zone the recording\'s times are in with --ts-zone (UTC, +01:00, Europe/Berlin)\n');
  const stats = await waitFor('the refusals counted', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.rejected.total === 4 ? s : null;
  });
  assert.deepEqual([stats.records, stats.rejected.byReason], [4, { bad_timestamp: 4 }]);
});

test('--fields maps a recording\'s columns (CSV) or keys (JSON lines) to our fields; unmapped ones keep their names; --ts-zone and --ts-unit read its times', (t) => {
  const dir = tempDir(t);
  const csv = join(dir, 'export.csv');
  // "temperature" is in °F here: mapped from temp_c, our temperature is temp_c, and the file's own column is left out.
  writeFileSync(csv, 'sensor,time,temp_c,temperature,floor\ns-1,2026-03-01 10:00:00,21.5,70.7,2\ns-2,2026-03-01T10:00:05.5,22,71.6,3\n');
  const input = (o: Parameters<typeof replayInput>[0]) => replayInput({ replay: 'x', ...o });
  const mapped = loadRecording(csv, input({ fields: 'deviceId=sensor, ts=time,temperature=temp_c', tsZone: '+01:00' }));
  assert.deepEqual(mapped.records.map((r) => [r.ts, r.recorded]), [
    [Date.parse('2026-03-01T09:00:00Z'), { deviceId: 's-1', ts: '2026-03-01T10:00:00+01:00', temperature: 21.5, floor: 2 }],
    [Date.parse('2026-03-01T09:00:05.500Z'), { deviceId: 's-2', ts: '2026-03-01T10:00:05.5+01:00', temperature: 22, floor: 3 }],
  ]);
  // Library users may give the mapping as an object; UTC is Z.
  const utc = loadRecording(csv, input({ fields: { deviceId: 'sensor', ts: 'time' }, tsZone: 'UTC' }));
  assert.deepEqual(utc.records.map((r) => r.recorded?.ts), ['2026-03-01T10:00:00Z', '2026-03-01T10:00:05.5Z']);

  // An IANA zone has the offset of the date: the change to summer time skips 02:30 (moved forward, as java.time does),
  // the change back repeats it (the first, summer-time one).
  const dst = join(dir, 'dst.jsonl');
  writeFileSync(dst, ['2026-01-15 12:00', '2026-07-15 12:00', '2026-03-29 02:30', '2026-10-25 02:30', '2026-10-25T03:00:00Z'].map((ts) => `{"id":"a","ts":"${ts}","temperature":20}\n`).join(''));
  const berlin = loadRecording(dst, input({ fields: 'deviceId=id', tsZone: 'Europe/Berlin' }));
  assert.deepEqual(berlin.records.map((r) => [r.recorded?.ts, new Date(r.ts).toISOString()]), [
    ['2026-01-15T12:00+01:00', '2026-01-15T11:00:00.000Z'],
    ['2026-07-15T12:00+02:00', '2026-07-15T10:00:00.000Z'],
    ['2026-03-29T02:30+01:00', '2026-03-29T01:30:00.000Z'],
    ['2026-10-25T02:30+02:00', '2026-10-25T00:30:00.000Z'],
    ['2026-10-25T03:00:00Z', '2026-10-25T03:00:00.000Z'], // it has a zone: as recorded
  ]);
  assert.deepEqual(berlin.records.map((r) => r.recorded?.id), [undefined, undefined, undefined, undefined, undefined]);

  // A time with a zone and a space for the T (pandas writes them so) is the same time: sent with the T, which the
  // server takes, option or not. It was sent as recorded, and every record refused (bad_timestamp).
  const spaced = join(dir, 'spaced.csv');
  writeFileSync(spaced, 'deviceId,ts,temperature\na,2026-03-01 10:00:00+00:00,20\na,2026-03-01 11:00:05.5+01:00,21\na,2026-03-01 10:00:10Z,22\n');
  assert.deepEqual(loadRecording(spaced).records.map((r) => [r.recorded?.ts, new Date(r.ts).toISOString()]), [
    ['2026-03-01T10:00:00+00:00', '2026-03-01T10:00:00.000Z'],
    ['2026-03-01T11:00:05.5+01:00', '2026-03-01T10:00:05.500Z'],
    ['2026-03-01T10:00:10Z', '2026-03-01T10:00:10.000Z'],
  ]);

  // Epoch seconds: sent as recorded (the server refuses them, the run warns first), or as ms with --ts-unit s.
  const seconds = join(dir, 'seconds.csv');
  writeFileSync(seconds, 'deviceId,ts,temperature\na,1772359200,20\na,1772359205.25,21\n');
  const asRecorded = loadRecording(seconds);
  assert.deepEqual(asRecorded.records.map((r) => r.recorded?.ts), [1772359200, 1772359205.25]);
  assert.deepEqual(timestampWarnings(seconds, asRecorded.records), [`--replay ${seconds}: 2 of its 2 records have a numeric ts that looks like epoch seconds (line 2: 1772359200), ` +
    'which the server refuses (bad_timestamp): if the recording\'s times are in seconds, say so with --ts-unit s']);
  const inMs = loadRecording(seconds, input({ tsUnit: 's' }));
  assert.deepEqual(inMs.records.map((r) => r.recorded?.ts), [1772359200000, 1772359205250]);
  assert.deepEqual(timestampWarnings(seconds, inMs.records), []);

  // Microseconds and nanoseconds (InfluxDB's exports): named the same way, and read as ms with --ts-unit us or ns.
  for (const [unit, scale, refused] of [['us', 1e3, 'future_timestamp'], ['ns', 1e6, 'bad_timestamp']] as const) {
    const file = join(dir, `${unit}.csv`);
    writeFileSync(file, `deviceId,ts,temperature\na,${1772359200250 * scale},20\na,${1772359205000 * scale + scale / 2},21\n`);
    assert.deepEqual(timestampWarnings(file, loadRecording(file).records), [`--replay ${file}: 2 of its 2 records have a numeric ts that looks like epoch ` +
      `${unit === 'us' ? 'microseconds' : 'nanoseconds'} (line 2: ${1772359200250 * scale}), which the server refuses (${refused}): if the recording's times are in ` +
      `${unit === 'us' ? 'microseconds' : 'nanoseconds'}, say so with --ts-unit ${unit}`]);
    const read = loadRecording(file, input({ tsUnit: unit }));
    assert.deepEqual(read.records.map((r) => r.recorded?.ts), [1772359200250, 1772359205001], `--ts-unit ${unit}: epoch ms, rounded`);
    assert.deepEqual(timestampWarnings(file, read.records), []);
  }
});

test('--replay of JSON lines whose device or message ids are integers (a sensor\'s 12, a gateway\'s message number 1001) sends them as their text, as a CSV cell of digits goes', (t) => {
  // They were refused: 'line 1: deviceId 12 is not a device id' (and a messageId of digits went as a number, which
  // the server rejects, wrong_type, every record).
  const file = join(tempDir(t), 'export.jsonl');
  writeFileSync(file, '{"sensor_id":12,"id":1001,"time":"2026-11-24T10:00:00Z","temp":21.5}\n{"sensor_id":7,"id":1002,"time":"2026-11-24T10:00:01Z","temp":19}\n');
  const recording = loadRecording(file, replayInput({ replay: file, fields: 'deviceId=sensor_id,messageId=id,ts=time,temperature=temp' }));
  assert.deepEqual(recording.records.map((r) => [r.deviceId, r.recorded]), [
    ['12', { deviceId: '12', messageId: '1001', ts: '2026-11-24T10:00:00Z', temperature: 21.5 }],
    ['7', { deviceId: '7', messageId: '1002', ts: '2026-11-24T10:00:01Z', temperature: 19 }],
  ]);
  assert.deepEqual(recording.deviceIds, ['12', '7']);
  // Under our own names too; a number that is no integer is still no device id.
  writeFileSync(file, '{"deviceId":3,"temperature":1}\n{"deviceId":3.5,"temperature":1}\n');
  assert.throws(() => loadRecording(file), { message: /: 1 of its records cannot be sent .*: line 2: deviceId 3\.5 is not a device id$/ });
});

test('--replay of a recording whose ts is a count, not a time (an Arduino log\'s millis(), the Intel lab\'s epoch column: numbers before 2000 as epoch ms) says so before it sends: the server takes them as times of 1970', (t) => {
  // It said nothing, and every reading went into windows of 1970-01-01.
  const dir = tempDir(t);
  const file = join(dir, 'arduino.csv');
  writeFileSync(file, 'millis,temp\n1000,21.5\n2000,21.6\n3000,21.75\n');
  const input = replayInput({ replay: file, device: 'arduino-1', fields: 'ts=millis,temperature=temp' });
  assert.deepEqual(timestampWarnings(file, loadRecording(file, input).records), [
    `--replay ${file}: 3 of its 3 records have a numeric ts before 2000 (line 2: 1000, 1970-01-01T00:00:01.000Z as the epoch milliseconds the server takes it for): ` +
      'a count from the start of a log (a reading number, millis()) is no time: map ts to a column of times, or leave it out (the server dates each record at its arrival)',
  ]);
  // With --ts-unit s, the count is named as the file has it (5), the time as the server would take it.
  writeFileSync(file, 'deviceId,ts,temperature\na,5,1\n');
  assert.match(timestampWarnings(file, loadRecording(file, replayInput({ replay: file, tsUnit: 's' })).records)[0], /\(line 2: 5, 1970-01-01T00:00:05\.000Z as the epoch milliseconds/);
  // Epoch seconds (named with --ts-unit s), epoch ms of this century and zoned times before 2000 are not named so.
  writeFileSync(file, 'deviceId,ts,temperature\na,1764064805,1\na,1764064806000,2\na,1999-12-31T23:59:59Z,3\n');
  assert.deepEqual(timestampWarnings(file, loadRecording(file).records).filter((w) => w.includes('before 2000')), []);
});

test('--temperature-unit f or k sends a recording\'s °F or kelvins as °C, to 0.01 °C; without it, temperatures that look like either are warned about, naming the option', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'ecobee.csv');
  // A US thermostat's export: °F, one decimal; the humidity is left as it is.
  writeFileSync(file, 'deviceId,ts,temperature,humidity\nt-1,2026-03-01T10:00:00Z,71.6,40\nt-1,2026-03-01T10:05:00Z,72.5,41\nt-1,2026-03-01T10:10:00Z,-40,42\nt-1,2026-03-01T10:15:00Z,32.1,\n');
  const input = (o: Parameters<typeof replayInput>[0]) => replayInput({ replay: file, ...o });
  const celsius = (unit: string) => loadRecording(file, input({ temperatureUnit: unit })).records.map((r) => [r.temperature, r.recorded?.temperature, r.humidity]);
  const inF = [[22, 22, 40], [22.5, 22.5, 41], [-40, -40, 42], [0.06, 0.06, NaN]];
  assert.deepEqual(celsius('f'), inF);
  assert.deepEqual(celsius('F'), inF);
  assert.deepEqual(celsius('c').map((r) => r[0]), [71.6, 72.5, -40, 32.1], 'c: as recorded');
  const warned = replayWarnings(loadRecording(file));
  assert.deepEqual(warned, [`--replay ${file}: its temperatures look like °F, not °C (median 71.6), which the server would take as °C (by default each one above 50 °C a threshold anomaly): if they are in °F, say so with --temperature-unit f`]);
  assert.deepEqual(replayWarnings(loadRecording(file, input({ temperatureUnit: 'f' }))), [], 'read as °F: no warning');
  // Kelvins (a weather model's export): 295.65 K is 22.5 °C, and 273.15 K is 0 (not -0).
  writeFileSync(file, 'deviceId,ts,temperature\nk-1,2026-03-01T10:00:00Z,295.65\nk-1,2026-03-01T10:05:00Z,273.15\nk-1,2026-03-01T10:10:00Z,296.2\n');
  assert.deepEqual(celsius('k').map((r) => r[0]), [22.5, 0, 23.05]);
  assert.ok(Object.is(celsius('k')[1][0], 0));
  assert.match(replayWarnings(loadRecording(file))[0], /its temperatures look like kelvins, not °C \(median 295\.65\), .*: if they are in kelvins, say so with --temperature-unit k$/);
  // A room's °C, and a cold room's °F (which cannot be told from °C), are not named.
  writeFileSync(file, 'deviceId,ts,temperature\nr-1,2026-03-01T10:00:00Z,21.5\nr-1,2026-03-01T10:05:00Z,44.9\nr-1,2026-03-01T10:10:00Z,21.7\n');
  assert.deepEqual(replayWarnings(loadRecording(file)), []);
});

test('--fields, --ts-zone and --ts-unit: what they cannot use is refused, naming what there is (exit 2)', async (t) => {
  const dir = tempDir(t);
  const csv = join(dir, 'export.csv');
  writeFileSync(csv, 'device_id,timestamp,temp_c\n1,2026-03-01 10:00:00,21.5\n');
  const jsonl = join(dir, 'export.jsonl');
  writeFileSync(jsonl, '{"sensor":"a","time":"2026-03-01T10:00:00Z","temperature":1}\n');
  const inMs = join(dir, 'ms.csv');
  writeFileSync(inMs, 'deviceId,ts,temperature\na,1764064805,21.5\na,1764064806000,21.6\n');
  const inUs = join(dir, 'us.csv');
  writeFileSync(inUs, 'deviceId,ts,temperature\na,1764064805000000,21.5\na,1764064806000000000,21.6\n');
  const url = ['--url', 'mqtt://127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['--replay', inMs, ...url, '--ts-unit', 's'], /: --ts-unit s reads each ts as seconds, but 1 of its 2 records has one in milliseconds already: line 3 \(1764064806000\); leave --ts-unit out\n/],
    [['--replay', inUs, ...url, '--ts-unit', 'ns'], /: --ts-unit ns reads each ts as nanoseconds, but 1 of its 2 records has one in microseconds: line 2 \(1764064805000000\); use --ts-unit us\n/],
    [['--replay', inUs, ...url, '--ts-unit', 'us', '--ts-zone', 'UTC', '--ts-format', 'YYYY-MM-DD HH:mm:ss'], /^simulator: --ts-unit us reads numeric times, --ts-format written ones: a recording has one kind; leave one out/],
    [['--replay', csv, ...url], /: expected JSON lines, or CSV whose first line is a header naming a deviceId column; line 1 is "device_id,timestamp,temp_c"\nits columns: "device_id", "timestamp", "temp_c"; name the one that holds the device id with --fields deviceId=device_id, or, a recording of one device, give its id with --device ID\n/],
    [['--replay', jsonl, ...url], /: 1 of its records cannot be sent .*: line 1: no deviceId\nthe keys of line 1: "sensor", "time", "temperature"; name the one that holds the device id with --fields deviceId=sensor, or, a recording of one device, give its id with --device ID\n/],
    [['--replay', csv, ...url, '--fields', 'deviceId=device_id,temperature=temp'], /^simulator: --replay \S+export\.csv: --fields maps temperature to the column "temp", which its header does not have \(its columns: "device_id", "timestamp", "temp_c"\)\n/],
    [['--replay', jsonl, ...url, '--fields', 'deviceId=sensor,ts=timestamp'], /: --fields maps ts to the key "timestamp", which none of its records has \(the keys of its first: "sensor", "time", "temperature"\)\n/],
    [['--replay', csv, ...url, '--fields', 'device=device_id'], /^simulator: invalid value for --fields: "device=device_id" \(expected FIELD=COLUMN pairs, comma-separated, FIELD one of deviceId, ts, temperature, humidity, seq, messageId; "device" is none of them\)/],
    [['--replay', csv, ...url, '--fields', 'deviceId:device_id'], /invalid value for --fields: .*; "deviceId:device_id" is not FIELD=COLUMN\)/],
    [['--replay', csv, ...url, '--fields', 'ts=a,ts=b'], /invalid value for --fields: .*; ts is mapped twice\)/],
    [['--replay', csv, ...url, '--fields', 'deviceId=device_id', '--ts-zone', 'CET+1'], /^simulator: invalid value for --ts-zone: "CET\+1" \(expected UTC, an offset such as \+01:00 or -0500, or an IANA time zone such as Europe\/Berlin\)/],
    [['--replay', csv, ...url, '--fields', 'deviceId=device_id', '--ts-zone=+25:00'], /invalid value for --ts-zone: "\+25:00"/],
    [['--replay', csv, ...url, '--fields', 'deviceId=device_id', '--ts-unit', 'min'], /^simulator: invalid value for --ts-unit: "min" \(expected s, ms, us or ns/],
    [['--devices', '1', ...url, '--fields', 'deviceId=device_id'], /^simulator: option --fields does nothing without --replay \(it says how to read a recording\): leave it out\n/],
    [['--devices', '1', ...url, '--ts-zone', 'UTC'], /^simulator: option --ts-zone does nothing without --replay/],
    [['--devices', '1', ...url, '--ts-unit', 's'], /^simulator: option --ts-unit does nothing without --replay/],
    [['--replay', csv, ...url, '--fields', 'deviceId=device_id', '--temperature-unit', 'fahrenheit'], /^simulator: invalid value for --temperature-unit: "fahrenheit" \(expected c, f or k \(the unit of the recording's temperatures: °C, °F, kelvins\)\)/],
    [['--devices', '1', ...url, '--temperature-unit', 'f'], /^simulator: option --temperature-unit does nothing without --replay/],
  ];
  await refusedAll(cases);
});

test('--device gives every record of a recording of one device (no deviceId column) its id; a recording that names its devices is refused with it', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'one-room.csv');
  const at = (s: number) => new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + s * 1000).toISOString().replace('T', ' ').slice(0, 19);
  // A public dataset's room sensor: no device column, times in UTC without a zone.
  writeFileSync(file, `time,temperature,humidity\n${at(0)},20.5,45\n${at(10)},20.75,46\n`);
  const recording = loadRecording(file, replayInput({ replay: file, device: 'room-1', fields: 'ts=time', tsZone: 'UTC' }));
  assert.deepEqual(recording.records.map((r) => r.recorded), [
    { deviceId: 'room-1', ts: `${at(0).replace(' ', 'T')}Z`, temperature: 20.5, humidity: 45 },
    { deviceId: 'room-1', ts: `${at(10).replace(' ', 'T')}Z`, temperature: 20.75, humidity: 46 },
  ]);
  const app = await startServer(t);
  const run = await simulate(['--replay', file, '--device', 'room-1', '--fields', 'ts=time', '--ts-zone', 'UTC', '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([run.code, run.stderr], [0, '']);
  await waitFor('the recording processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === 2);
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices`)).body.items;
  assert.deepEqual(devices.map((d: { deviceId: string; readings: number; lastTemperature: number }) => [d.deviceId, d.readings, d.lastTemperature]), [['room-1', 2, 20.75]]);

  const named = join(dir, 'named.csv');
  writeFileSync(named, 'deviceId,ts,temperature\na,2026-03-01T10:00:00Z,1\n');
  const jsonl = join(dir, 'named.jsonl');
  writeFileSync(jsonl, '{"ts":"2026-03-01T10:00:00Z","temperature":1}\n{"deviceId":"a","ts":"2026-03-01T10:00:05Z","temperature":1}\n');
  const url = ['--url', 'mqtt://127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['--replay', named, ...url, '--device', 'room-1'], /^simulator: --replay \S+named\.csv: --device gives every record the device "room-1", but its header has a deviceId column: leave one out\n/],
    [['--replay', jsonl, ...url, '--device', 'room-1'], /: 1 of its records cannot be sent .*: line 2: deviceId "a" of its own, and --device gives every record one$/m],
    [['--replay', file, ...url, '--device', 'room-1', '--fields', 'deviceId=time'], /^simulator: --device cannot be used with --fields deviceId=time: the column names each record's device\n/],
    [['--replay', file, ...url, '--device', 'room 1'], /^simulator: invalid value for --device: "room 1" \(expected a device id: 1 to 128 of A-Z a-z 0-9 \. _ : -\)/],
    [['--devices', '1', ...url, '--device', 'room-1'], /^simulator: option --device does nothing without --replay/],
  ];
  await refusedAll(cases);
});

test('--replay of a recording whose time or temperature column has another name (timestamp, temp), or whose ts the server refuses, says so before it sends: the server would date every record now, or reject them', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'exported.csv');
  writeFileSync(file, 'deviceId,timestamp,temp\nlab-1,2026-11-24T10:00:00Z,21.5\nlab-1,2026-11-24T10:00:05Z,21.75\n');
  const app = await startServer(t);
  const run = await simulate(['--replay', file, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stderr,
    `simulator: warning: --replay ${file}: no record has a ts, so the server dates each at its arrival (now), not when it was recorded; its field "timestamp" is not read as one: map it with --fields ts=timestamp (ISO 8601 with a zone, or epoch milliseconds)\n` +
      `simulator: warning: --replay ${file}: no record has a temperature, so the server rejects every one (missing_temperature, GET /api/v1/dead-letters); its field "temp" is not read as one: map it with --fields temperature=temp (°C)\n`,
  );
  // What the warnings foretold: both records dead-lettered.
  await waitFor('the dead letters', async () => (await getJson(`${app.httpUrl}/api/v1/dead-letters?deviceId=lab-1&reason=missing_temperature`)).body.items.length === 2);

  // A ts the server refuses (no zone, a spreadsheet's; epoch seconds) is named by line, and is no time to order by.
  const times = join(dir, 'times.csv');
  // Those an option reads (--ts-zone, --ts-unit s) are named with it.
  writeFileSync(times, 'deviceId,ts,temperature\nlab-2,2026-11-24 10:00:00,21.5\nlab-2,1764064805,21.75\nlab-2,2026-11-24T10:00:10Z,21.8\nlab-2,2026-02-30T10:00:00Z,21.9\n');
  const timed = await simulate(['--replay', times, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(timed.code, 0, timed.stderr);
  assert.equal(
    timed.stderr,
    `simulator: warning: --replay ${times}: 1 of its 4 records has a ts without a zone (line 2: "2026-11-24 10:00:00"), which the server refuses (bad_timestamp): ` +
      'say which zone the recording\'s times are in with --ts-zone (UTC, +01:00, Europe/Berlin)\n' +
      `simulator: warning: --replay ${times}: 1 of its 4 records has a numeric ts that looks like epoch seconds (line 3: 1764064805), which the server refuses (bad_timestamp): ` +
      'if the recording\'s times are in seconds, say so with --ts-unit s\n' +
      `simulator: warning: --replay ${times}: 1 of its 4 records has a ts the server refuses (bad_timestamp, GET /api/v1/dead-letters): ` +
      'line 5 ("2026-02-30T10:00:00Z"); it takes ISO 8601 with a zone (2026-11-24T10:00:00Z) or epoch milliseconds\n',
  );
  await waitFor('the dead letters', async () => (await getJson(`${app.httpUrl}/api/v1/dead-letters?deviceId=lab-2&reason=bad_timestamp`)).body.items.length === 3);
});

test('--replay of a recording whose temperatures or humidities are text (Home Assistant\'s "21.5" and "unavailable") says so before it sends: the server rejects those records', { timeout: 60_000 }, async (t) => {
  // It said nothing: the summary had every record acknowledged, and the server rejected every one (wrong_type).
  const file = join(tempDir(t), 'history.jsonl');
  writeFileSync(file, [
    { entity_id: 'sensor.hall', state: '21.5', last_changed: '2026-11-24T10:00:00.123456+00:00' },
    { entity_id: 'sensor.hall', state: 'unavailable', last_changed: '2026-11-24T10:00:05+00:00' },
    { entity_id: 'sensor.hall', state: 21.75, humidity: '40 %', last_changed: '2026-11-24T10:00:10+00:00' },
    { entity_id: 'sensor.hall', state: 22, last_changed: '2026-11-24T10:00:15+00:00' },
  ].map((o) => JSON.stringify(o)).join('\n') + '\n');
  const app = await startServer(t);
  const run = await simulate(['--replay', file, '--fields', 'deviceId=entity_id,ts=last_changed,temperature=state', '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stderr,
    `simulator: warning: --replay ${file}: 3 of its 4 records have a temperature or humidity that is text, not a number (a number in quotes too), which the server rejects (GET /api/v1/dead-letters): ` +
      'line 1 (temperature "21.5"); line 2 (temperature "unavailable"); line 3 (humidity "40 %")\n',
  );
  assert.equal(JSON.parse(run.stdout).acknowledged, 4);
  // What the warning foretold: three dead letters, one reading.
  await waitFor('the dead letters', async () => (await getJson(`${app.httpUrl}/api/v1/dead-letters?deviceId=sensor.hall&reason=wrong_type`)).body.items.length === 3);
  await waitFor('the reading', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === 1);

  // A null temperature (pandas writes NaN so in JSON) is rejected too (non_finite_temperature); a null humidity is none.
  const nulls = join(tempDir(t), 'pandas.jsonl');
  writeFileSync(nulls, '{"deviceId":"a","ts":"2026-11-24T10:00:00Z","temperature":null,"humidity":40}\n{"deviceId":"a","ts":"2026-11-24T10:00:05Z","temperature":21,"humidity":null}\n');
  assert.deepEqual(replayWarnings(loadRecording(nulls)), [
    `--replay ${nulls}: 1 of its 2 records has a temperature or humidity that is null, not a number, which the server rejects (GET /api/v1/dead-letters): line 1 (temperature null)`,
  ]);
  // Every temperature null: named so, not as missing (the server's reason is non_finite_temperature).
  writeFileSync(nulls, '{"deviceId":"a","ts":"2026-11-24T10:00:00Z","temperature":null}\n{"deviceId":"a","ts":"2026-11-24T10:00:05Z","temperature":null}\n');
  assert.deepEqual(replayWarnings(loadRecording(nulls)), [
    `--replay ${nulls}: 2 of its 2 records have a temperature or humidity that is null, not a number, which the server rejects (GET /api/v1/dead-letters): line 1 (temperature null); line 2 (temperature null)`,
  ]);

  // In a CSV a cell of a number, quoted or not, goes as one: only the text is named.
  const csv = join(tempDir(t), 'history.csv');
  writeFileSync(csv, 'entity_id,state,last_changed\nsensor.hall,"21.5",2026-11-24T10:00:00+00:00\nsensor.hall,unavailable,2026-11-24T10:00:05+00:00\n');
  assert.deepEqual(replayWarnings(loadRecording(csv, replayInput({ replay: csv, fields: 'deviceId=entity_id,ts=last_changed,temperature=state' }))), [
    `--replay ${csv}: 1 of its 2 records has a temperature or humidity that is text, not a number, which the server rejects (GET /api/v1/dead-letters): line 3 (temperature "unavailable")`,
  ]);
});

test('--ts-zone is exact in zones whose offsets have seconds or change off the quarter hour (historical local mean times), as Intl reads them', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'old.jsonl');
  const cases: [zone: string, wall: string, epoch: number][] = [
    // Monrovia Mean Time, -00:44:30, until 1972-01-07 00:00, when the clocks went forward 44 min 30 s to GMT.
    ['Africa/Monrovia', '1960-01-01 00:00:00', Date.UTC(1960, 0, 1, 0, 44, 30)],
    ['Africa/Monrovia', '1971-12-31 23:59:59.25', Date.UTC(1972, 0, 1, 0, 44, 29, 250)],
    ['Africa/Monrovia', '1972-01-07 00:44:00', Date.UTC(1972, 0, 7, 1, 28, 30)], // skipped: moved forward by the gap
    ['Africa/Monrovia', '1972-01-07 00:44:40', Date.UTC(1972, 0, 7, 0, 44, 40)], // the same quarter hour, after the change
    ['Africa/Monrovia', '1972-01-07 00:50', Date.UTC(1972, 0, 7, 0, 50)],
    // New York's local mean time, -04:56:02, until noon EST on 1883-11-18: 12:03:58 LMT was set back to 12:00.
    ['America/New_York', '1883-11-18 11:50:00', Date.UTC(1883, 10, 18, 16, 46, 2)],
    ['America/New_York', '1883-11-18 12:02:00', Date.UTC(1883, 10, 18, 16, 58, 2)], // repeated: the first one
    ['America/New_York', '1883-11-18 12:05:00', Date.UTC(1883, 10, 18, 17, 5)], // the same quarter hour, EST
    // Dublin Mean Time -00:25:21; Madras Mean Time +05:21:10.
    ['Europe/Dublin', '1910-06-01 12:00', Date.UTC(1910, 5, 1, 12, 25, 21)],
    ['Asia/Kolkata', '1900-01-01 05:21:10', Date.UTC(1900, 0, 1)],
    // The common case is as before: whole-minute offsets, written as such.
    ['Europe/Berlin', '2026-03-29 03:10', Date.UTC(2026, 2, 29, 1, 10)],
  ];
  for (const [zone, wall, epoch] of cases) {
    writeFileSync(file, `{"deviceId":"a","ts":"${wall}","temperature":20}\n`);
    const [record] = loadRecording(file, replayInput({ replay: file, tsZone: zone })).records;
    assert.equal(record.ts, epoch, `${wall} in ${zone}: ${record.recorded?.ts}`);
  }

  // Every wall time around those changes, 7 s apart (not quarter-hour aligned), reads back as Intl shows the instant.
  for (const [zone, from] of [['Africa/Monrovia', Date.UTC(1972, 0, 6, 23)], ['America/New_York', Date.UTC(1883, 10, 18, 11)]] as const) {
    const format = new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    const walls = Array.from({ length: 1200 }, (_, i) => new Date(from + i * 7000).toISOString().slice(0, 19).replace('T', ' '));
    writeFileSync(file, walls.map((w) => `{"deviceId":"a","ts":"${w}","temperature":20}\n`).join(''));
    const records = loadRecording(file, replayInput({ replay: file, tsZone: zone })).records;
    const wrong = records.filter((r, i) => {
      const shown = format.format(new Date(r.ts));
      // A skipped wall time has no instant of its own: it is moved forward by the gap (checked above).
      const skipped = zone === 'Africa/Monrovia' && walls[i] >= '1972-01-07 00:00:00' && walls[i] < '1972-01-07 00:44:30';
      return !skipped && shown !== walls[i];
    });
    assert.deepEqual(wrong.map((r) => r.recorded?.ts), [], zone);
  }
});
