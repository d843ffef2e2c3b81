/**
 * One device's backlog in one batch: a thermostat that buffered hours of readings (every 2 s) while offline, or a
 * recording replayed fast, sends them at once, and the job's batch holds them all — thousands of panes of one key.
 * Reports the job's time for that batch (the telemetry job, default windows and detectors), per backlog size, with
 * the default allowed lateness (10 s) and with one of a day — the time a reading should stay flat as the backlog
 * grows — and the time a job takes to restore that batch's checkpoint (from a SQLite store in a temp dir). --compare DIR runs the engine of another checkout too (`git worktree add DIR <commit>`),
 * interleaved.
 *
 *   npm run bench -- backlog [--readings 3600,10800,43200] [--runs N] [--compare DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, REPO, table } from './harness.ts';

interface Options {
  readings: number[];
  runs: number;
  compare: string;
}

const USAGE = `npm run bench -- backlog [options]

  --readings N,...  backlog sizes, one reading every 2 s each (default 3600,10800,43200: 2, 6 and 24 hours)
  --runs N          runs per size, engine and lateness; the median is reported (default 3)
  --compare DIR     also run the engine of the checkout in DIR, interleaved, and print old / new ratios`;

/**
 * The job's time (ms) for one batch holding `n` readings of one device, 2 s apart, ending now; and the time a job
 * takes to restore that batch's checkpoint (its panes) from a SQLite store in a temp dir.
 */
async function backlogMs(root: string, n: number, latenessMs: number): Promise<{ batch: number; restore: number }> {
  const { resolveConfig } = (await import(`${root}/server/config.ts`)) as typeof import('../server/config.ts');
  const { TelemetryJob } = (await import(`${root}/server/engine/telemetry.ts`)) as typeof import('../server/engine/telemetry.ts');
  const { createStore } = (await import(`${root}/server/store/index.ts`)) as typeof import('../server/store/index.ts');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-backlog-'));
  const config = resolveConfig({ dataDir, allowedLatenessMs: latenessMs });
  const now = Date.UTC(2026, 0, 1, 12);
  const job = new TelemetryJob(config, now - 60_000, null);
  const readings = Array.from({ length: n }, (_, i) => ({
    deviceId: 'backlog-1', ts: now - (n - i) * 2000, temperature: 20 + (i % 50) / 10, humidity: 40, seq: i + 1, arrival: now,
  }));
  const started = performance.now();
  const out = job.process({ readings, deadLetters: [], lastOffset: n }, now + 1000);
  const batch = performance.now() - started;
  if (out.late.length > 0 || out.records !== n) throw new Error(`backlog of ${n}: ${out.late.length} late, ${out.records} records`);
  const store = await createStore(config);
  try {
    await store.commitBatch(out);
    const recovered = await store.recover();
    const restoring = performance.now();
    new TelemetryJob(config, now + 2000, recovered);
    return { batch, restore: performance.now() - restoring };
  } finally {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags<Options>(args, { readings: [3600, 10_800, 43_200], runs: 3, compare: '' }, {
    '--readings': (v, x) => (x.readings = v.split(',').map((s) => positiveInt('--readings', s))),
    '--runs': (v, x) => (x.runs = positiveInt('--runs', v)),
    '--compare': (v, x) => (x.compare = v),
  });
  const engines = [...(o.compare === '' ? [] : [{ name: `old (${o.compare})`, root: o.compare }]), { name: 'this checkout', root: REPO }];
  const rows: string[][] = [];
  for (const n of o.readings) {
    for (const latenessMs of [10_000, 86_400_000]) {
      const runs = new Map<string, { batch: number; restore: number }[]>(engines.map((e) => [e.name, []]));
      for (let r = 0; r < o.runs; r++) for (const e of engines) runs.get(e.name)!.push(await backlogMs(e.root, n, latenessMs));
      const med = engines.map((e) => ({ batch: median(runs.get(e.name)!.map((x) => x.batch)), restore: median(runs.get(e.name)!.map((x) => x.restore)) }));
      rows.push([
        fmtInt(n), `${(n * 2) / 3600} h`, latenessMs === 10_000 ? '10 s' : '1 day',
        ...med.flatMap((m) => [m.batch.toFixed(0), ((m.batch * 1000) / n).toFixed(1), m.restore.toFixed(0)]),
        ...(engines.length === 2 ? [fmtRatio(med[0].batch / med[1].batch), fmtRatio(med[0].restore / med[1].restore)] : []),
      ]);
    }
  }
  console.log(machine());
  console.log('backlog: one device\'s readings, 2 s apart, all in one batch; the telemetry job alone, default windows and detectors');
  console.log(table(['readings', 'span', 'allowed lateness', ...engines.flatMap((e) => [`${e.name}: batch ms`, 'µs a reading', 'restore ms']), ...(engines.length === 2 ? ['old / new: batch', 'restore'] : [])], rows));
  console.log(`npm run bench -- backlog ${args.join(' ')}`.trim());
  return 0;
}
