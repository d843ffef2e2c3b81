import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingBroker, runSimulator } from './simulator-helpers.ts';
import { loadScenario } from '../simulator/scenario.ts';

const cli = (args: string[], timeoutMs = 20_000) => runSimulator(args, { timeoutMs });

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'thermostream-sim-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const COMMON = [
  '--devices', '7', '--rate', '50', '--count', '3000', '--start', '2026-11-24T10:00:00Z', '--speedup', '60',
  '--anomalies', '5', '--late-fraction', '0.05', '--duplicate-fraction', '0.05', '--bad-fraction', '0.05',
];

test('same seed and options give byte-identical --out and --truth files', async (t) => {
  const dir = await tempDir(t);
  const runs = await Promise.all(
    ['a', 'b'].map((name) =>
      cli([...COMMON, '--seed', '42', '--out', join(dir, `${name}.jsonl`), '--truth', join(dir, `${name}-truth.jsonl`), '--quiet']),
    ),
  );
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  const [a, b] = await Promise.all([readFile(join(dir, 'a.jsonl')), readFile(join(dir, 'b.jsonl'))]);
  assert.ok(a.length > 0);
  assert.ok(a.equals(b), 'readings differ between two runs with the same seed');
  const [ta, tb] = await Promise.all([readFile(join(dir, 'a-truth.jsonl')), readFile(join(dir, 'b-truth.jsonl'))]);
  assert.ok(ta.length > 0, 'no anomalies recorded');
  assert.ok(ta.equals(tb), 'ground truth differs between two runs with the same seed');

  const lines = a.toString('utf8').trimEnd().split('\n');
  // Dropouts skip slots, so a little under --count readings.
  assert.ok(lines.length <= 3000 && lines.length > 2400, `${lines.length} lines`);
  const first = JSON.parse(lines[0] as string);
  assert.deepEqual(Object.keys(first), ['deviceId', 'ts', 'temperature', 'humidity', 'seq']);
  assert.equal(first.deviceId, 'thermostat-0001');
  assert.equal(first.ts, '2026-11-24T10:00:00.000Z');
  assert.equal(first.seq, 1);
});

test('a different seed gives different readings', async (t) => {
  const dir = await tempDir(t);
  const [r1, r2] = await Promise.all([
    cli([...COMMON, '--seed', '1', '--out', join(dir, '1.jsonl'), '--quiet']),
    cli([...COMMON, '--seed', '2', '--out', join(dir, '2.jsonl'), '--quiet']),
  ]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r2.code, 0, r2.stderr);
  const [a, b] = await Promise.all([readFile(join(dir, '1.jsonl')), readFile(join(dir, '2.jsonl'))]);
  assert.ok(!a.equals(b));
});

test('invalid options exit with code 2 and name the option and value', async () => {
  const cases: [string[], RegExp][] = [
    [['--rate', 'fast', '--out', '/dev/null', '--count', '1'], /--rate: "fast"/],
    [['--devices', '0', '--out', '/dev/null', '--count', '1'], /--devices: 0/],
    [['--qos', '2', '--url', 'mqtt://127.0.0.1:1'], /--qos: 2/],
    [['--start', 'yesterday', '--out', '/dev/null', '--count', '1'], /--start: "yesterday"/],
    [['--url', 'http://x'], /--url: "http:\/\/x"/],
    [['--bad-fraction', '1.5', '--out', '/dev/null', '--count', '1'], /--bad-fraction: 1.5/],
    [['--transport', 'carrier-pigeon', '--url', 'mqtt://127.0.0.1:1'], /--transport: "carrier-pigeon"/],
    [['--speedup', '10', '--url', 'mqtt://127.0.0.1:1'], /--speedup: 10/],
    [['--frobnicate'], /frobnicate/],
    // A number beyond a double's range was shown as JSON's null: 'invalid value for --duration: null'.
    [['--out', '/dev/null', '--duration', '1e400'], /^simulator: invalid value for --duration: "1e400" \(expected a number\)/],
    [['--out', '/dev/null', '--count', '1', '--max-delay', '-1e400'], /^simulator: invalid value for --max-delay: "-1e400" \(expected a number\)/],
    // Readings dated before 1970 or past what a Date holds: it was 'Invalid time value', exit code 1, or readings the server refuses.
    [['--out', '/dev/null', '--count', '1e20'], /^simulator: invalid value for --count: 100000000000000000000 \(expected a run whose simulated time fits from 1970 on: 100000000000000000000 readings at --rate 10 span 3\.17e\+11 years, from before 1970 to \d{4}-/],
    [['--out', '/dev/null', '--duration', '1e15', '--rate', '1'], /^simulator: invalid value for --duration: 1000000000000000 \(expected a run whose simulated time fits from 1970 on/],
    [['--out', '/dev/null', '--count', '1', '--start', '1969-12-31T23:59:59Z'], /^simulator: invalid value for --start: "1969-12-31T23:59:59Z" \(expected a time from 1970 on/],
    // Neither destination: it said 'invalid value for --url: undefined', naming a value nobody gave.
    [['--count', '1'], /^simulator: give --url, the broker to publish to, or --out FILE.jsonl to only write the readings to a file\n/],
    // A file that cannot be created is the option's value at fault (it was the bare ENOENT, exit code 1).
    [['--out', '/nonexistent/dir/r.jsonl', '--count', '1'], /^simulator: invalid value for --out: "\/nonexistent\/dir\/r.jsonl" \(expected a file that can be written; ENOENT/],
    [['--out', '/dev/null', '--truth', '/nonexistent/dir/t.jsonl', '--count', '1'], /^simulator: invalid value for --truth: "\/nonexistent\/dir\/t.jsonl" \(expected a file that can be written; ENOENT/],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((run, i) => {
    const [args, pattern] = cases[i] as [string[], RegExp];
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  });
});

test('an option without its value is named, and a negative number is the option\'s value, refused by its own check', async () => {
  const cases: [string[], string][] = [
    [['--rate', '-5', '--out', '/dev/null', '--count', '1'], 'invalid value for --rate: -5 (expected readings/s > 0, at most 10000000)'],
    // Too large is said as such, not as "> 0" (which 1e9 is).
    [['--rate', '1e9', '--out', '/dev/null', '--count', '1'], 'invalid value for --rate: 1000000000 (expected readings/s > 0, at most 10000000)'],
    [['--speedup', '2e6', '--out', '/dev/null', '--count', '1'], 'invalid value for --speedup: 2000000 (expected a factor > 0, at most 1000000)'],
    [['--seed', '-1', '--out', '/dev/null', '--count', '1'], 'invalid value for --seed: -1 (expected an integer from 0 to 4294967295)'],
    [['--url', '--rate', '5'], 'option --url needs a value, got the option "--rate" (to give a value that starts with "-", write --url=VALUE)'],
    [['--count', '1', '--out', '-h'], 'option --out needs a value, got the option "-h" (to give a value that starts with "-", write --out=VALUE)'],
    [['--count', '1', '--out'], 'option --out needs a value'],
    [['--count', '1', '--quiet=false'], 'option --quiet takes no value, got "--quiet=false"'],
    // It was refused by mqtt.js when connecting: 'Username is required to use password' after --connect-timeout, exit 1.
    [['--url', 'mqtt://127.0.0.1:1', '--count', '1', '--password', 'hunter2'], 'option --password needs --username (MQTT sends a password only with a user name)'],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((run, i) => {
    const [args, message] = cases[i] as [string[], string];
    assert.deepEqual({ code: run.code, stdout: run.stdout, stderr: run.stderr }, { code: 2, stdout: '', stderr: `simulator: ${message}\nTry --help.\n` }, args.join(' '));
  });
});

test('an unknown option or a stray argument is refused in the server\'s and the devices CLI\'s words, pointing at --help', async () => {
  const cases: [string[], string][] = [
    [['--frobnicate'], 'unknown option "--frobnicate" (see --help)'],
    [['--count', '1', '--frobnicate=2'], 'unknown option "--frobnicate" (see --help)'],
    [['-x'], 'unknown option "-x" (see --help)'],
    [['--count', '1', 'fast'], 'unexpected argument "fast": options only (see --help)'],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((run, i) => {
    const [args, message] = cases[i] as [string[], string];
    assert.deepEqual({ code: run.code, stdout: run.stdout, stderr: run.stderr }, { code: 2, stdout: '', stderr: `simulator: ${message}\n` }, args.join(' '));
  });
});

test('--help lists every option with units and defaults', async () => {
  const run = await cli(['--help']);
  assert.equal(run.code, 0);
  for (const option of ['--devices', '--rate', '--duration', '--count', '--url', '--seed', '--qos', '--batch-size', '--connections',
    '--anomalies', '--scenario', '--truth', '--late-fraction', '--max-delay', '--duplicate-fraction', '--bad-fraction', '--speedup',
    '--start', '--out']) {
    assert.ok(run.stdout.includes(option), option);
  }
  assert.match(run.stdout, /per device per simulated hour/);
});

test('exits with code 1 when it cannot connect', async () => {
  const run = await cli(['--url', 'mqtt://127.0.0.1:1', '--count', '10', '--connect-timeout', '1', '--quiet']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /cannot connect to mqtt:\/\/127\.0\.0\.1:1/);
});

test('--scenario schedules anomalies that --truth records; a bad scenario exits with code 2', async (t) => {
  const dir = await tempDir(t);
  const scenario = join(dir, 'scenario.json');
  await writeFile(
    scenario,
    JSON.stringify({
      events: [
        { device: 2, type: 'stuck', at: 60, duration: 120 },
        { device: 'thermostat-0003', type: 'spike', at: '2026-11-24T10:02:00Z', magnitude: 9 },
      ],
    }),
  );
  const run = await cli(['--devices', '3', '--rate', '3', '--count', '900', '--start', '2026-11-24T10:00:00Z', '--speedup', '5',
    '--scenario', scenario, '--truth', join(dir, 'truth.jsonl'), '--out', join(dir, 'out.jsonl'), '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  const truth = (await readFile(join(dir, 'truth.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
  // Each device reads every 5 simulated s (3 devices, 3 readings/s, speedup 5), device k offset by (k − 1) · 5/3 s:
  // an event starts at the device's first reading at or after `at`.
  assert.deepEqual(truth.map((r) => [r.deviceId, r.type, r.start]), [
    ['thermostat-0003', 'spike', '2026-11-24T10:02:03.333Z'],
    ['thermostat-0002', 'stuck', '2026-11-24T10:01:01.666Z'],
  ]);
  assert.equal(truth[0].end, truth[0].start);
  assert.equal(truth[1].end, '2026-11-24T10:03:01.666Z');
  assert.equal(truth[1].values.length, 25);
  assert.ok(truth[1].values.length >= 20 && truth[1].values.every((v: number) => v === truth[1].magnitude));

  await writeFile(scenario, JSON.stringify({ events: [{ device: 1, type: 'meteor', at: 0 }] }));
  const bad = await cli(['--out', join(dir, 'x.jsonl'), '--count', '10', '--scenario', scenario]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /events\[0\]: unknown "type" "meteor"/);
});

test('--start and a scenario\'s ISO "at" need a zone, as the server\'s times do: without one they are refused, not read in the machine\'s time zone', async (t) => {
  const dir = await tempDir(t);
  const env = { TZ: 'America/New_York' }; // 5 h behind UTC in November: a zone-less 10:00 would be 15:00Z
  const scenario = join(dir, 'scenario.json');
  const out = join(dir, 'out.jsonl');
  const truth = join(dir, 'truth.jsonl');
  const run = (start: string, at: string) => {
    return writeFile(scenario, JSON.stringify({ events: [{ device: 1, type: 'spike', at, magnitude: 9 }] })).then(() =>
      runSimulator(['--devices', '1', '--rate', '1', '--count', '5', '--start', start, '--scenario', scenario, '--out', out, '--truth', truth, '--quiet'], { env, timeoutMs: 20_000 }),
    );
  };
  const zoneless = await runSimulator(['--devices', '1', '--rate', '1', '--count', '5', '--start', '2026-11-24T10:00:00', '--out', out, '--quiet'], { env });
  assert.equal(zoneless.code, 2, zoneless.stderr);
  assert.match(zoneless.stderr, /invalid value for --start: "2026-11-24T10:00:00" \(expected an ISO 8601 time with a zone, Z or an offset, such as 2026-11-24T10:00:00Z\)/);

  await writeFile(scenario, JSON.stringify({ events: [{ device: 1, type: 'spike', at: '2026-11-24T10:00:02' }] }));
  const badAt = await runSimulator(['--devices', '1', '--rate', '1', '--count', '5', '--start', '2026-11-24T10:00:00Z', '--scenario', scenario, '--out', out, '--quiet'], { env });
  assert.equal(badAt.code, 2, badAt.stderr);
  assert.match(badAt.stderr, /events\[0\]: "at" must be seconds >= 0 or an ISO time with a zone \(2026-11-24T10:05:00Z\), got "2026-11-24T10:00:02"/);

  // With a zone (Z, or an offset +01:00, +0100, +01) both are taken, whatever the machine's time zone.
  for (const [start, at] of [['2026-11-24T10:00:00Z', '2026-11-24T10:00:02Z'], ['2026-11-24T11:00:00+01', '2026-11-24T11:00:02+0100'], ['2026-11-24T05:00:00-05:00', '2026-11-24T10:00:02.000Z']]) {
    const ok = await run(start, at);
    assert.equal(ok.code, 0, ok.stderr);
    const readings = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(readings[0].ts, '2026-11-24T10:00:00.000Z', start);
    const spikes = (await readFile(truth, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(spikes.map((s) => [s.type, s.start]), [['spike', '2026-11-24T10:00:02.000Z']], at);
  }
});

test('a scenario event for a device outside the fleet is refused with the options, naming the file and the fleet, before any connection', async (t) => {
  const dir = await tempDir(t);
  const scenario = join(dir, 'scenario.json');
  await writeFile(scenario, JSON.stringify({ events: [{ device: 1, type: 'spike', at: 5 }, { device: 5, type: 'stuck', at: 10, duration: 60 }] }));
  const b = await recordingBroker();
  t.after(() => b.broker.close());
  const run = await cli(['--devices', '2', '--rate', '2', '--count', '10', '--scenario', scenario, '--url', b.broker.url, '--quiet']);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stderr, `simulator: invalid scenario ${scenario} events[1]: device 5 is not in the fleet (its 2 devices are thermostat-0001 … thermostat-0002)\nTry --help.\n`);
  assert.equal(b.clients.size, 0, 'no device connected');
  await writeFile(scenario, JSON.stringify({ events: [{ device: 'kitchen', type: 'spike', at: 5 }] }));
  const byId = await cli(['--devices', '1', '--rate', '1', '--count', '5', '--scenario', scenario, '--out', join(dir, 'out.jsonl'), '--quiet']);
  assert.equal(byId.code, 2, byId.stderr);
  assert.match(byId.stderr, /events\[0\]: device "kitchen" is not in the fleet \(its one device is thermostat-0001\)/);
});

test('scenario events after the last reading of a run of known length are warned about before the run: they cannot happen', async (t) => {
  const dir = await tempDir(t);
  const scenario = join(dir, 'scenario.json');
  // 2 devices, 2 readings/s, 120 readings: device 1's last is 59 simulated seconds after the start, device 2's 59.5.
  await writeFile(scenario, JSON.stringify({ events: [
    { device: 1, type: 'spike', at: 600 },
    { device: 2, type: 'stuck', at: 30, duration: 60 },
    { device: 1, type: 'dip', at: '2026-11-24T10:05:00Z' },
    { device: 1, type: 'drift', at: 59.2 },
    { device: 2, type: 'spike', at: 59.2 }, // not warned: its device reports at 59.5 s (inside its stuck interval, so not injected)
  ] }));
  const truth = join(dir, 'truth.jsonl');
  const run = await cli(['--devices', '2', '--rate', '2', '--count', '120', '--start', '2026-11-24T10:00:00Z', '--scenario', scenario, '--out', join(dir, 'out.jsonl'), '--truth', truth, '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  const device1 = 'thermostat-0001 whose last reading is 59 s of simulated time after the start';
  assert.equal(run.stderr, `simulator: warning: --scenario: events[0] (at 600, ${device1}), events[2] (at "2026-11-24T10:05:00Z", ${device1}), ` +
    `events[3] (at 59.2, ${device1}) come after their device's last reading: they will not happen (lengthen the run with --count or --duration, or move them)\n`);
  const lines = (await readFile(truth, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.type), ['stuck']);

  // A run long enough for them: no warning.
  const long = await cli(['--devices', '2', '--rate', '2', '--count', '1400', '--start', '2026-11-24T10:00:00Z', '--scenario', scenario, '--out', join(dir, 'out.jsonl'), '--quiet']);
  assert.equal(long.code, 0, long.stderr);
  assert.equal(long.stderr, '');
});

test('a --scenario file saved with a UTF-8 byte order mark is read as JSON', async (t) => {
  // It was 'invalid scenario …: not JSON (Unexpected token '\uFEFF' …)', naming a character the editor does not show.
  const dir = await mkdtemp(join(tmpdir(), 'sim-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const scenario = { events: [{ device: 1, type: 'stuck', at: 0, duration: 60 }] };
  await writeFile(join(dir, 'bom.json'), `\uFEFF${JSON.stringify(scenario)}\r\n`);
  await writeFile(join(dir, 'plain.json'), JSON.stringify(scenario));
  assert.deepEqual(loadScenario(join(dir, 'bom.json')), loadScenario(join(dir, 'plain.json')));
});
