/**
 * The stream engine on its own: the telemetry job (dedupe → event-time windows → per-device figures) over
 * pre-parsed readings from 1,000 devices, one core, no I/O. Also, in the same process and on the same readings:
 *   - "by hand": what a user would write without panes: every reading updates every window it falls in, in a Map
 *     keyed by a "device|start" string (the ratio shows what the pane design buys);
 *   - "with SQLite": the job plus the store's commit of each batch (outputs + checkpoint, one transaction).
 *
 *   npm run bench -- engine [--readings N] [--devices N] [--batch N] [--runs N] [--windows default|one] [--detectors on|off]
 *
 * --windows one: only 10 s / 2 s (the configuration before the analytics step); --detectors off: no anomaly detector.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../server/config.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import type { IngestBatch, Reading } from '../server/ingest/index.ts';
import { createStore } from '../server/store/index.ts';
import { fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, reproduce, table, UsageError } from './harness.ts';

interface Options {
  readings: number;
  devices: number;
  batch: number;
  runs: number;
  windows: 'default' | 'one';
  detectors: 'on' | 'off';
}

const DEFAULTS: Options = { readings: 2_000_000, devices: 1000, batch: 100_000, runs: 5, windows: 'default', detectors: 'on' };
let overrides: Record<string, unknown> = {};

function jobConfig(o: Options): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  if (o.windows === 'one') c.windows = [{ lengthMs: 10_000, slideMs: 2_000 }];
  if (o.detectors === 'off') {
    c.detectors = Object.fromEntries(['threshold', 'spike', 'stuck', 'drift', 'rate', 'dropout'].map((d) => [d, { enabled: false }]));
  }
  return c;
}
const T0 = Date.parse('2026-11-25T00:00:00Z');

/** Readings as ingest hands them to the engine: 100,000 readings per second of event time, devices round-robin. */
function makeCuts(o: Options): IngestBatch[] {
  const cuts: IngestBatch[] = [];
  const seqs = new Array<number>(o.devices).fill(0);
  let seed = 42;
  for (let start = 0; start < o.readings; start += o.batch) {
    const readings: Reading[] = [];
    for (let i = start; i < Math.min(o.readings, start + o.batch); i++) {
      const d = i % o.devices;
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const ts = T0 + Math.floor(i / 100);
      readings.push({ deviceId: `thermostat-${d}`, ts, temperature: (1800 + (seed % 600)) / 100, humidity: 40, seq: ++seqs[d], arrival: ts });
    }
    cuts.push({ readings, deadLetters: [], lastOffset: start + readings.length });
  }
  return cuts;
}

function runJob(cuts: IngestBatch[]): number {
  const config = resolveConfig(overrides);
  const job = new TelemetryJob(config, T0, null);
  const t = process.hrtime.bigint();
  for (const cut of cuts) job.process(cut, cut.readings.at(-1)!.ts);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function runJobWithStore(cuts: IngestBatch[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-bench-'));
  const config = resolveConfig({ ...overrides, dataDir: dir });
  const store = await createStore(config);
  const job = new TelemetryJob(config, T0, null);
  const t = process.hrtime.bigint();
  for (const cut of cuts) await store.commitBatch(job.process(cut, cut.readings.at(-1)!.ts));
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

/** The hand-written baseline: every reading updates each of its L/S windows, per device and fleet. */
function runByHand(cuts: IngestBatch[]): number {
  const L = 10_000;
  const S = 2_000;
  const windows = new Map<string, { count: number; sum: number; min: number; max: number }>();
  const t = process.hrtime.bigint();
  for (const cut of cuts) {
    for (const r of cut.readings) {
      for (let start = Math.floor(r.ts / S) * S; start > r.ts - L; start -= S) {
        for (const key of [`${r.deviceId}|${start}`, `*|${start}`]) {
          let w = windows.get(key);
          if (w === undefined) windows.set(key, (w = { count: 0, sum: 0, min: Infinity, max: -Infinity }));
          w.count++;
          w.sum += r.temperature;
          if (r.temperature < w.min) w.min = r.temperature;
          if (r.temperature > w.max) w.max = r.temperature;
        }
      }
    }
  }
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function main(args: string[]): Promise<number> {
  const o = parseFlags(args, DEFAULTS, {
    '--readings': (v, x) => (x.readings = positiveInt('--readings', v)),
    '--devices': (v, x) => (x.devices = positiveInt('--devices', v)),
    '--batch': (v, x) => (x.batch = positiveInt('--batch', v)),
    '--runs': (v, x) => (x.runs = positiveInt('--runs', v)),
    '--windows': (v, x) => {
      if (v !== 'default' && v !== 'one') throw new UsageError(`--windows must be default or one, got ${JSON.stringify(v)}`);
      x.windows = v;
    },
    '--detectors': (v, x) => {
      if (v !== 'on' && v !== 'off') throw new UsageError(`--detectors must be on or off, got ${JSON.stringify(v)}`);
      x.detectors = v;
    },
  });
  overrides = jobConfig(o);
  console.log(machine());
  const shapes = o.windows === 'one' ? '10 s / 2 s' : '10 s / 2 s, 1 min / 10 s, 5 min / 1 min';
  console.log(`engine: ${fmtInt(o.readings)} readings, ${o.devices} devices, batches of ${fmtInt(o.batch)}, windows ${shapes}, detectors ${o.detectors}`);
  const cuts = makeCuts(o);
  const job: number[] = [];
  const hand: number[] = [];
  const withStore: number[] = [];
  runJob(cuts); // warm-up: let the JIT settle before measuring
  for (let i = 0; i < o.runs; i++) {
    job.push(runJob(cuts));
    hand.push(runByHand(cuts));
    withStore.push(await runJobWithStore(cuts));
  }
  const rate = (ms: number[]) => (o.readings * 1000) / median(ms);
  console.log(
    table(
      ['variant', 'readings/s (median)', 'runs (ms)', 'vs job'],
      [
        ['telemetry job (panes)', fmtInt(rate(job)), job.map(Math.round).join(' '), '1.00'],
        ['by hand (a Map entry per window)', fmtInt(rate(hand)), hand.map(Math.round).join(' '), fmtRatio(rate(hand) / rate(job))],
        ['job + SQLite commit per batch', fmtInt(rate(withStore)), withStore.map(Math.round).join(' '), fmtRatio(rate(withStore) / rate(job))],
      ],
    ),
  );
  console.log(reproduce('engine', args));
  return 0;
}
