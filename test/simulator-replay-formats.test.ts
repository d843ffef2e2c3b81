/**
 * --replay of real systems' exports, each in the exact form the system writes, replayed into a real server (real MQTT)
 * and read back over HTTP: Azure IoT Hub's message routing to storage (JSON), ThingSpeak's channel CSV, a public
 * dataset's day-first times, and the Intel Berkeley lab's headerless data.txt.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { getJson, startServer, tempDir, waitFor } from './helpers.ts';
import { runSimulator as simulate } from './simulator-helpers.ts';
import { loadRecording } from '../simulator/replay.ts';
import { replayInput } from '../simulator/replay-fields.ts';

type Served = [ts: string, temperature: number, humidity: number | null];

/**
 * A server whose raw readings cover the times `at(i)`: 500 ms apart from 2 s ago (raw readings are served from the
 * server's start on, so they lie between it and now), and what it serves of a device from a second before the first
 * of them (a time of whole seconds is up to a second earlier).
 */
async function liveServer(t: TestContext) {
  const app = await startServer(t);
  await new Promise((r) => setTimeout(r, 3500));
  const base = Date.now() - 2000;
  const at = (i: number) => base + i * 500;
  const served = async (id: string): Promise<Served[]> => {
    const url = `${app.httpUrl}/api/v1/readings?deviceId=${id}&from=${new Date(base - 1000).toISOString()}&to=${new Date(base + 5000).toISOString()}`;
    return ((await getJson(url)).body.items as { ts: string; temperature: number; humidity: number | null }[]).map((p) => [p.ts, p.temperature, p.humidity]);
  };
  const processed = (n: number) => waitFor('the recording processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === n);
  return { app, at, iso: (i: number) => new Date(at(i)).toISOString(), served, processed };
}

test('--replay of Azure IoT Hub message routing to storage (JSON encoding): --fields reads dotted paths into SystemProperties and Body, a base64 Body holding JSON included; .NET\'s 7 fraction digits are taken', { timeout: 60_000 }, async (t) => {
  const { app, iso, served, processed } = await liveServer(t);
  const dotnet = (i: number) => `${iso(i).slice(0, 23)}0000Z`; // 2024-03-01T10:00:00.1230000Z, as .NET writes it
  const system = (device: string, i: number, json: boolean) => ({
    connectionDeviceId: device,
    connectionAuthMethod: '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
    connectionDeviceGenerationId: '638449123456789012',
    ...(json ? { contentType: 'application/json', contentEncoding: 'utf-8' } : {}),
    enqueuedTime: dotnet(i),
  });
  // Routing writes Body as the JSON itself when the device set contentType application/json and contentEncoding
  // utf-8, and as base64 of its bytes otherwise.
  const line = (device: string, i: number, body: object, json: boolean) =>
    JSON.stringify({ EnqueuedTimeUtc: dotnet(i), Properties: {}, SystemProperties: system(device, i, json), Body: json ? body : Buffer.from(JSON.stringify(body)).toString('base64') });
  const file = join(tempDir(t), '00.json');
  writeFileSync(file, [
    line('thermo-1', 0, { temperature: 21.5, humidity: 40 }, true),
    line('thermo-2', 1, { temperature: 19.25, humidity: 55.5 }, false),
    line('thermo-1', 2, { temperature: 21.75 }, false),
  ].join('\r\n') + '\r\n');
  const fields = 'deviceId=SystemProperties.connectionDeviceId,ts=EnqueuedTimeUtc,temperature=Body.temperature,humidity=Body.humidity';
  const run = await simulate(['--replay', file, '--fields', fields, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([run.code, run.stderr], [0, '']);
  assert.equal(JSON.parse(run.stdout).acknowledged, 3);
  await processed(3);
  assert.deepEqual(await served('thermo-1'), [[iso(0), 21.5, 40], [iso(2), 21.75, null]]);
  assert.deepEqual(await served('thermo-2'), [[iso(1), 19.25, 55.5]]);

  // Without --fields: refused, naming IoT Hub's mapping.
  const bare = await simulate(['--replay', file, '--url', app.mqttUrl, '--quiet']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /--fields deviceId=SystemProperties\.connectionDeviceId,ts=EnqueuedTimeUtc,temperature=Body\.temperature/);
  // A path none of the records has is refused as a key is.
  const wrong = await simulate(['--replay', file, '--fields', 'deviceId=SystemProperties.connectionDeviceId,temperature=Body.temp', '--url', app.mqttUrl, '--quiet']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--fields maps temperature to the key "Body\.temp", which none of its records has/);
});

test('--replay of a ThingSpeak channel\'s CSV export: its times written 2024-03-01 10:00:00 UTC (older exports) and 2024-03-01T10:00:00+00:00 are read as the times they are', { timeout: 60_000 }, async (t) => {
  const { app, iso, served, processed } = await liveServer(t);
  const dir = tempDir(t);
  const mysql = (i: number) => `${iso(i).slice(0, 10)} ${iso(i).slice(11, 19)} UTC`; // whole seconds, as ThingSpeak keeps them
  const offset = (i: number) => `${iso(i).slice(0, 19)}+00:00`;
  const whole = (i: number) => `${iso(i).slice(0, 19)}.000Z`;
  const older = join(dir, 'feeds.csv');
  writeFileSync(older, `created_at,entry_id,field1,field2\n${mysql(0)},1,21.5,40\n${mysql(2)},2,21.75,\n`);
  const newer = join(dir, 'feeds-new.csv');
  writeFileSync(newer, `created_at,entry_id,field1,field2\n${offset(1)},7,19.25,55.5\n${offset(3)},8,19.5,56\n`);
  const fields = 'ts=created_at,seq=entry_id,temperature=field1,humidity=field2';
  for (const [file, device] of [[older, 'channel-1'], [newer, 'channel-2']]) {
    const run = await simulate(['--replay', file, '--device', device, '--fields', fields, '--url', app.mqttUrl, '--json', '--quiet']);
    assert.deepEqual([run.code, run.stderr], [0, '']);
  }
  await processed(4);
  assert.deepEqual(await served('channel-1'), [[whole(0), 21.5, 40], [whole(2), 21.75, null]]);
  assert.deepEqual(await served('channel-2'), [[whole(1), 19.25, 55.5], [whole(3), 19.5, 56]]);
});

test('--replay of day-first times (Kaggle\'s IOT-temp.csv, 08-12-2018 09:30) does not guess: it warns naming --ts-format; with --ts-format DD-MM-YYYY HH:mm and --ts-zone they are served at the right times', { timeout: 120_000 }, async (t) => {
  const app = await startServer(t);
  // The dataset's times are to the minute: the first whole minute after the server's start (raw readings are served
  // from its start on), once it has come.
  const minute = Math.ceil((Date.now() + 1000) / 60_000) * 60_000;
  await new Promise((r) => setTimeout(r, minute + 200 - Date.now()));
  const kolkata = new Date(minute + 330 * 60_000).toISOString(); // wall time in Asia/Kolkata, +05:30
  const noted = `${kolkata.slice(8, 10)}-${kolkata.slice(5, 7)}-${kolkata.slice(0, 4)} ${kolkata.slice(11, 16)}`;
  const file = join(tempDir(t), 'IOT-temp.csv');
  // Its id (unique per record) serves as messageId, its out/in column as the device (In, Out); room_id/id is "Room
  // Admin" in every record, no device id (a space).
  writeFileSync(file, 'id,room_id/id,noted_date,temp,out/in\n' +
    `"__export__.temp_log_196134_bd201015","Room Admin","${noted}",29,"In"\n` +
    `"__export__.temp_log_196131_7bca51bc","Room Admin","${noted}",41,"Out"\n`);
  const fields = 'messageId=id,deviceId=out/in,ts=noted_date,temperature=temp';

  const bare = await simulate(['--replay', file, '--fields', fields, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(bare.stderr, `simulator: warning: --replay ${file}: 2 of its 2 records have a ts whose day and month could be either way round ` +
    `(line 2: ${JSON.stringify(noted)}), which the server refuses (bad_timestamp): say how it is written with --ts-format ` +
    '"DD-MM-YYYY HH:mm" (day first) or "MM-DD-YYYY HH:mm" (month first), and its zone with --ts-zone (UTC, +01:00, Europe/Berlin)\n');

  const run = await simulate(['--replay', file, '--fields', fields, '--ts-format', 'DD-MM-YYYY HH:mm', '--ts-zone', 'Asia/Kolkata', '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([run.code, run.stderr], [0, '']);
  assert.equal(JSON.parse(run.stdout).firstTs, new Date(minute).toISOString());
  const stats = await waitFor('the recording processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records === 2 ? s : null;
  });
  assert.deepEqual(stats.rejected, { total: 2, byReason: { bad_timestamp: 2 } }); // the two sent as recorded, first
  const served = async (id: string) => {
    const url = `${app.httpUrl}/api/v1/readings?deviceId=${id}&from=${new Date(minute).toISOString()}&to=${new Date(minute + 1000).toISOString()}`;
    return ((await getJson(url)).body.items as { ts: string; temperature: number; source: string }[]).map((p) => [p.ts, p.temperature, p.source]);
  };
  assert.deepEqual(await served('In'), [[new Date(minute).toISOString(), 29, 'raw']]);
  assert.deepEqual(await served('Out'), [[new Date(minute).toISOString(), 41, 'raw']]);
});

test('a recording without a deviceId column is refused with a column that names devices as the example, never a record\'s own id (Kaggle\'s id, ThingSpeak\'s entry_id): mapped, each record would be a device of its own', (t) => {
  // It suggested --fields deviceId=id for IOT-temp.csv, whose "__export__.temp_log_196134_bd201015" ids are valid
  // device ids, one per record, and --fields deviceId=entry_id for a ThingSpeak channel (one device, --device).
  const file = join(tempDir(t), 'export.csv');
  /** The second line of the refusal of a CSV with this header: the columns and the mapping to give. */
  const hint = (header: string): string => {
    writeFileSync(file, `${header}\n`);
    try {
      loadRecording(file);
    } catch (error) {
      const [first, second] = (error as Error).message.split('\n');
      assert.match(first, /expected JSON lines, or CSV whose first line is a header naming a deviceId column/);
      return second;
    }
    assert.fail(`${header}: not refused`);
  };
  assert.equal(hint('id,room_id/id,noted_date,temp,out/in'), 'its columns: "id", "room_id/id", "noted_date", "temp", "out/in"; name the one that holds the device id with --fields deviceId=room_id/id, or, a recording of one device, give its id with --device ID');
  assert.equal(hint('created_at,entry_id,field1,field2'), 'its columns: "created_at", "entry_id", "field1", "field2"; name the one that holds the device id with --fields deviceId=COLUMN, or, a recording of one device, give its id with --device ID');
  assert.match(hint('_id,recordId,sensor_id,value'), /--fields deviceId=sensor_id,/);
  assert.match(hint('entity_id,state,last_changed'), /--fields deviceId=entity_id,/);
});

test('--replay of an InfluxDB annotated CSV (its #group, #datatype and #default rows first) says to leave the annotations out, and reads it without them', (t) => {
  // It read #group's row as the header: '--fields maps deviceId to the column "device", which its header does not
  // have (its columns: "#group", "false", "false", "true", …)'.
  const dir = tempDir(t);
  const rows = [
    ',result,table,_start,_stop,_time,_value,_field,_measurement,device',
    ',,0,2026-11-24T00:00:00Z,2026-11-25T00:00:00Z,2026-11-24T10:00:00Z,21.5,temperature,thermo,t1',
    ',,0,2026-11-24T00:00:00Z,2026-11-25T00:00:00Z,2026-11-24T10:00:10Z,21.75,temperature,thermo,t1',
    '',
  ];
  const annotated = join(dir, 'influx.csv');
  writeFileSync(annotated, ['#group,false,false,true,true,false,false,true,true,true', '#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string', '#default,_result,,,,,,,,', ...rows].join('\r\n'));
  const input = (file: string) => replayInput({ replay: file, fields: 'deviceId=device,ts=_time,temperature=_value' });
  assert.throws(() => loadRecording(annotated, input(annotated)), {
    message: /: line 1 is a comment or an annotation, not its header row \("#group,false,false,true,true,false,false,true,true,true"; InfluxDB's annotated CSV starts with #group, #datatype and #default\): leave such lines out first, grep -v '\^#'$/,
  });
  const plain = join(dir, 'influx-plain.csv');
  writeFileSync(plain, rows.join('\r\n'));
  assert.deepEqual(loadRecording(plain, input(plain)).records.map((r) => [r.deviceId, r.recorded?.ts, r.temperature]), [['t1', '2026-11-24T10:00:00Z', 21.5], ['t1', '2026-11-24T10:00:10Z', 21.75]]);
});

test('docs/SIMULATOR.md\'s command that sorts IOT-temp.csv oldest first keeps every record whole, also when the file does not end with a line break', (t) => {
  // `tail -n +2 IOT-temp.csv | tac` put the last record, without its line break, in front of the one before it:
  // '"…_3","Room Admin","08-12-2018 09:32",30,"In""…_2",…', one line of 9 cells, and the run refused it.
  const doc = readFileSync(new URL('../docs/SIMULATOR.md', import.meta.url), 'utf8');
  const command = /`(\(head -1 IOT-temp\.csv;[^`]*> sorted\.csv)`/.exec(doc)?.[1].replace(/\s+/g, ' ');
  assert.ok(command !== undefined, 'docs/SIMULATOR.md has the command that sorts IOT-temp.csv');
  const dir = tempDir(t);
  const rows = [3, 2, 1].map((i) => `"__export__.temp_log_${i}","Room Admin","08-12-2018 09:3${i}",${28 + i},"In"`);
  for (const end of ['', '\n', '\r\n']) {
    writeFileSync(join(dir, 'IOT-temp.csv'), ['id,room_id/id,noted_date,temp,out/in', ...rows].join(end === '' ? '\n' : end) + end);
    execFileSync('bash', ['-c', command], { cwd: dir });
    const sorted = join(dir, 'sorted.csv');
    const input = replayInput({ replay: sorted, fields: 'messageId=id,deviceId=out/in,ts=noted_date,temperature=temp', tsFormat: 'DD-MM-YYYY HH:mm', tsZone: 'Asia/Kolkata' });
    assert.deepEqual(loadRecording(sorted, input).records.map((r) => [r.recorded?.messageId, r.temperature]), [['__export__.temp_log_1', 29], ['__export__.temp_log_2', 30], ['__export__.temp_log_3', 31]], JSON.stringify(end));
  }
});

test('--ts-format: a format without a date\'s parts, without --ts-zone, with --ts-unit s, or a time it does not match is refused, naming what was wrong (exit 2)', async () => {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'ts-format-')), 'us.csv');
  writeFileSync(file, 'device,when,temp\nd1,3/1/2024 1:05:00 PM,21\nd1,2024-03-01 13:06,22\nd1,2/30/2024 1:07:00 PM,23\n');
  const cases: [string[], RegExp][] = [
    [['--ts-format', 'DD-MM-YYYY HH:mm'], /option --ts-format does nothing without --replay/],
    [['--replay', file, '--fields', 'deviceId=device,ts=when,temperature=temp', '--ts-format', 'MM/DD/YYYY HH:mm:ss A'], /--ts-format reads times without a zone: give their zone with --ts-zone/],
    [['--replay', file, '--fields', 'deviceId=device,ts=when,temperature=temp', '--ts-zone', 'UTC', '--ts-format', 'MM/DD/YYYY HH:mm:ss A', '--ts-unit', 's'],
      /--ts-unit s reads numeric times, --ts-format written ones: a recording has one kind; leave one out/],
    [['--replay', file, '--fields', 'deviceId=device,ts=when,temperature=temp', '--ts-zone', 'UTC', '--ts-format', 'MM/DD HH:mm'], /invalid value for --ts-format: "MM\/DD HH:mm" \(expected .*YYYY.*; it has no YYYY\)/],
    [['--replay', file, '--fields', 'deviceId=device,ts=when,temperature=temp', '--ts-zone', 'UTC', '--ts-format', 'MM/DD/YYYY HH:mm:ss A'],
      /2 of its records cannot be sent .*line 3: ts "2024-03-01 13:06" does not match --ts-format "MM\/DD\/YYYY HH:mm:ss A"; line 4: ts "2\/30\/2024 1:07:00 PM" is no such time/],
  ];
  for (const [args, message] of cases) {
    const run = await simulate([...args, '--url', 'mqtt://127.0.0.1:1']);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});

test('--ts-format reads a US spreadsheet\'s times (month first, 1 or 2 digits, AM/PM: 12 AM is midnight) and fractions of a second as written', (t) => {
  const dir = tempDir(t);
  const us = join(dir, 'us.csv');
  writeFileSync(us, 'device,when,temp\nd1,3/1/2024 1:05:00 PM,21\nd1,3/1/2024 12:00:00 am,22\nd1,12/31/2023 12:30:15 PM,23\n');
  const read = (file: string, format: string, zone: string) =>
    loadRecording(file, replayInput({ replay: file, fields: 'deviceId=device,ts=when,temperature=temp', tsFormat: format, tsZone: zone })).records.map((r) => r.recorded?.ts);
  assert.deepEqual(read(us, 'MM/DD/YYYY HH:mm:ss A', '-05:00'), ['2024-03-01T13:05:00-05:00', '2024-03-01T00:00:00-05:00', '2023-12-31T12:30:15-05:00']);
  const eu = join(dir, 'eu.csv');
  writeFileSync(eu, 'device,when,temp\nd1,08.12.2018 09:30:00.25,21\n');
  assert.deepEqual(read(eu, 'DD.MM.YYYY HH:mm:ss.SSS', 'Europe/Berlin'), ['2018-12-08T09:30:00.25+01:00']);
  writeFileSync(eu, 'device,when,temp\nd1,08.12.2018 09:30:00.25,21\nd1,8.12.2018,22\nd1,29.02.2019 00:00:00.0,23\n');
  assert.throws(() => read(eu, 'DD.MM.YYYY HH:mm:ss.SSS', 'UTC'), {
    message: `--replay ${eu}: 2 of its records cannot be sent (each needs a deviceId matching [A-Za-z0-9._:-]{1,128}, in CSV a cell per header name, and a ts that --ts-format reads): ` +
      'line 3: ts "8.12.2018" does not match --ts-format "DD.MM.YYYY HH:mm:ss.SSS"; line 4: ts "29.02.2019 00:00:00.0" is no such time',
  });
});

test('--replay of the Intel Berkeley lab\'s data.txt (no header, cells separated by spaces, date and time in two columns): --columns names them, --fields ts=date+time joins them', { timeout: 60_000 }, async (t) => {
  const { app, at, iso, served, processed } = await liveServer(t);
  // date time epoch moteid temperature humidity light voltage, times in the lab's zone to 5 fraction digits.
  const lab = (i: number) => {
    const wall = new Date(at(i) - 8 * 3_600_000).toISOString(); // Pacific Standard Time, as in the winter of the dataset
    return `${wall.slice(0, 10)} ${wall.slice(11, 23)}27`;
  };
  const file = join(tempDir(t), 'data.txt');
  writeFileSync(file, `${lab(0)} 3 1 19.9884 37.0933 45.08 2.69964\n${lab(1)} 11 2 19.3024 38.4629 45.08 2.68742\n${lab(2)}  4 1 19.1652 38.8039 45.08 2.68742\n`);
  const columns = 'date,time,epoch,moteid,temperature,humidity,light,voltage';
  const run = await simulate(['--replay', file, '--columns', columns, '--fields', 'deviceId=moteid,ts=date+time,seq=epoch', '--ts-zone', '-08:00', '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([run.code, run.stderr], [0, '']);
  await processed(3);
  assert.deepEqual(await served('1'), [[iso(0), 19.9884, 37.0933], [iso(2), 19.1652, 38.8039]]);
  assert.deepEqual(await served('2'), [[iso(1), 19.3024, 38.4629]]);

  // Without --columns its first line is taken for a header: refused, naming --columns; a line of another number of
  // cells (the file has some) is refused, naming it.
  const bare = await simulate(['--replay', file, '--url', app.mqttUrl, '--quiet']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /if it has no header row, name its 8 columns in order with --columns NAME,NAME,…/);
  writeFileSync(file, `${lab(0)} 3 1 19.9884 37.0933 45.08 2.69964\n${lab(1)} 11 2\n`);
  const short = await simulate(['--replay', file, '--columns', columns, '--fields', 'deviceId=moteid,ts=date+time,seq=epoch', '--ts-zone', '-08:00', '--url', app.mqttUrl, '--quiet']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /line 2: 4 cells for the 8 of --columns/);
  const missing = await simulate(['--replay', file, '--columns', columns, '--fields', 'deviceId=moteid,ts=day+time', '--url', app.mqttUrl, '--quiet']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--fields maps ts to the columns "day" and "time" joined, but it has no column "day" \(its columns: "date", "time", /);
});

test('--columns on a file that has a header row after all: a first line naming those columns (in any case, spaced) is skipped with a note, not sent as a record', { timeout: 60_000 }, async (t) => {
  const { app, iso, served, processed } = await liveServer(t);
  const file = join(tempDir(t), 'export.csv');
  writeFileSync(file, `DeviceID, TS ,Temperature\nhall,${iso(0)},21.5\nhall,${iso(1)},21.75\n`);
  const run = await simulate(['--replay', file, '--columns', 'deviceId,ts,temperature', '--url', app.mqttUrl, '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, `simulator: warning: --replay ${file}: line 1 names the columns of --columns, a header row: skipped, not sent as a record\n`);
  const summary = JSON.parse(run.stdout);
  assert.deepEqual([summary.generated, summary.acknowledged, summary.lost], [2, 2, 0]);
  await processed(2);
  assert.deepEqual(await served('hall'), [[iso(0), 21.5, null], [iso(1), 21.75, null]]);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual(stats.rejected, { total: 0, byReason: {} });
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/devices`)).body.items.map((d: { deviceId: string }) => d.deviceId), ['hall']);
  // A first line of other names is data, as --columns says: here a record with a temperature that is no number.
  writeFileSync(file, `device,time,temp\nhall,${iso(2)},22\n`);
  assert.deepEqual(loadRecording(file, replayInput({ replay: file, columns: 'deviceId,ts,temperature' })).records.map((r) => r.recorded?.temperature), ['temp', 22]);
});

test('--fields paths into JSON: a key with dots is read as the key it is; a string of JSON text or base64 is read into; one of neither, or base64 of no JSON object, has no such field', (t) => {
  const file = join(tempDir(t), 'paths.jsonl');
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  writeFileSync(file, [
    JSON.stringify({ day: '2024-03-01', time: '09:00', dev: { id: 'a' }, 'temp.c': 20, Body: '{"t":1.5}' }),
    JSON.stringify({ day: '2024-03-01', time: '09:00', dev: { id: 'b' }, 'temp.c': 21, Body: b64('{"t":2.5}') }),
    JSON.stringify({ day: '2024-03-01', time: '09:00', dev: { id: 'c' }, 'temp.c': 22, Body: b64('not json') }),
    JSON.stringify({ day: '2024-03-01', time: '09:00', dev: { id: 'd' }, 'temp.c': 23, Body: 'hello' }),
    JSON.stringify({ dev: { id: 'e' }, 'temp.c': 24, Body: { t: [1] }, day: '2024-03-01', time: '10:00:00' }),
  ].join('\n'));
  const records = loadRecording(file, replayInput({ replay: file, fields: 'deviceId=dev.id,temperature=temp.c,humidity=Body.t,ts=day+time', tsZone: 'UTC' })).records;
  assert.deepEqual(records.map((r) => [r.deviceId, r.recorded?.temperature, r.recorded?.humidity, r.recorded?.ts]), [
    ['a', 20, 1.5, '2024-03-01T09:00Z'],
    ['b', 21, 2.5, '2024-03-01T09:00Z'],
    ['c', 22, undefined, '2024-03-01T09:00Z'],
    ['d', 23, undefined, '2024-03-01T09:00Z'],
    ['e', 24, [1], '2024-03-01T10:00:00Z'],
  ]);
});

test('a zoned time written with a space before its zone, or the zone as UTC or GMT, goes as ISO 8601; other zone names (ambiguous) and zoneless times as recorded', (t) => {
  const file = join(tempDir(t), 'zones.csv');
  const written = ['2024-03-01 10:00:00 UTC', '2024-03-01 10:00:00.5 gmt', '2024-03-01T10:00:00 +0100', '2024-03-01 10:00 -05:00', '2024-03-01 10:00:00Z', '2024-03-01 10:00:00 CET', '2024-03-01 10:00:00'];
  writeFileSync(file, `deviceId,ts,temperature\n${written.map((ts, i) => `d,${ts},${i}`).join('\n')}\n`);
  assert.deepEqual(loadRecording(file).records.map((r) => r.recorded?.ts), [
    '2024-03-01T10:00:00Z', '2024-03-01T10:00:00.5Z', '2024-03-01T10:00:00+0100', '2024-03-01T10:00-05:00', '2024-03-01T10:00:00Z', '2024-03-01 10:00:00 CET', '2024-03-01 10:00:00',
  ]);
});

test('--columns reads a headerless CSV (commas, quoting as usual) or cells separated by tabs; JSON lines with it, or names empty or twice, are refused', (t) => {
  const dir = tempDir(t);
  const read = (text: string, columns: string) => {
    const file = join(dir, 'rec.txt');
    writeFileSync(file, text);
    return loadRecording(file, replayInput({ replay: file, columns })).records.map((r) => r.recorded);
  };
  assert.deepEqual(read('a,2024-03-01T10:00:00Z,"21,5"\r\nb,2024-03-01T10:00:01Z,22\r\n', 'deviceId,ts,note'), [
    { deviceId: 'a', ts: '2024-03-01T10:00:00Z', note: '21,5' },
    { deviceId: 'b', ts: '2024-03-01T10:00:01Z', note: 22 },
  ]);
  assert.deepEqual(read('\n7\t2024-03-01T10:00:00Z\t\t21.5\n', 'deviceId,ts,temperature'), [{ deviceId: '7', ts: '2024-03-01T10:00:00Z', temperature: 21.5 }]);
  assert.throws(() => read('{"deviceId":"a"}\n', 'deviceId'), /it is JSON lines, whose keys name the fields: leave --columns out/);
  assert.throws(() => replayInput({ replay: 'x', columns: 'a,,b' }), { message: 'invalid value for --columns: "a,,b" (expected the names of the columns of a file without a header row, in order, comma-separated, each once; name 2 is empty)' });
  assert.throws(() => replayInput({ replay: 'x', columns: 'a,b,a' }), /"a" is named twice/);
  assert.throws(() => replayInput({ columns: 'a,b' }), /option --columns does nothing without --replay/);
});
