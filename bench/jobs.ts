/**
 * Jobs: how fast a job's telemetryStream reads the ingest log (LogTail alone, readings per second decoded from
 * segment files), and how long a Livy batch takes to start (POST → running) and to stop (DELETE → killed, a
 * graceful stop of a streaming context) on a real server.
 *
 *   npm run bench -- jobs [--runs N] [--count N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../server/config.ts';
import { IngestLog } from '../server/ingest/log.ts';
import { LogTail } from '../server/ingest/log-tail.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { startThermostream } from '../server/main.ts';
import { fmtInt, machine, median, parseFlags, positiveInt, table } from './harness.ts';
import { systemClock } from '../server/clock.ts';
import { StorageHealth } from '../server/storage-health.ts';

interface Options {
  runs: number;
  count: number;
}

export async function main(args: string[]): Promise<void> {
  const o = parseFlags<Options>(args, { runs: 3, count: 1_000_000 }, {
    '--runs': (v, x) => void (x.runs = positiveInt('--runs', v)),
    '--count': (v, x) => void (x.count = positiveInt('--count', v)),
  });
  console.log(machine());
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-bench-jobs-'));
  try {
    await writeLog(join(dir, 'log'), o.count);
    const rates: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      const tail = new LogTail(join(dir, 'log'), 0, () => {});
      const start = performance.now();
      let n = 0;
      const out: Reading[] = [];
      while (n < o.count) {
        out.length = 0;
        n += tail.poll(out);
      }
      rates.push(n / ((performance.now() - start) / 1000));
      tail.close();
    }
    const starts: number[] = [];
    const stops: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      const [s, k] = await startAndStop(join(dir, `server-${run}`));
      starts.push(s);
      stops.push(k);
    }
    console.log(
      table(
        ['measure', 'median', 'runs'],
        [
          ['LogTail read, readings/s', fmtInt(median(rates)), rates.map(fmtInt).join(' ')],
          ['POST → running, ms', fmtInt(median(starts)), starts.map(fmtInt).join(' ')],
          ['DELETE → killed, ms', fmtInt(median(stops)), stops.map(fmtInt).join(' ')],
        ],
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function writeLog(dir: string, count: number): Promise<void> {
  const health = new StorageHealth(systemClock);
  const log = IngestLog.open({ dir, segmentBytes: 64 * 1024 * 1024, maxBacklog: Infinity, fsync: false, retainMs: 0, repair: false, health, onFatal: (e) => { throw e; } }, 0);
  for (let i = 1; i <= count; i++) {
    log.appendReading({ deviceId: `thermostat-${String(i % 1000).padStart(4, '0')}`, ts: 1.8e12 + i, temperature: 20 + (i % 100) / 10, humidity: 40, seq: i, arrival: 1.8e12 + i });
    if (i % 5000 === 0) await log.drain();
  }
  await log.close();
}

/** One server: submits examples/hottest-devices.ts, then deletes it; returns [ms to running, ms to killed]. */
async function startAndStop(dataDir: string): Promise<[number, number]> {
  const app = await startThermostream(resolveConfig({ http: { port: 0 }, mqtt: { port: 0 }, dataDir }));
  try {
    const t0 = performance.now();
    const res = await fetch(`${app.httpUrl}/livy/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file: 'examples/hottest-devices.ts' }),
    });
    const { id } = (await res.json()) as { id: number };
    for (let i = 0; i < 2000; i++) {
      const { state } = (await (await fetch(`${app.httpUrl}/livy/batches/${id}/state`)).json()) as { state: string };
      if (state === 'running') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const started = performance.now() - t0;
    const t1 = performance.now();
    await fetch(`${app.httpUrl}/livy/batches/${id}`, { method: 'DELETE' });
    return [started, performance.now() - t1];
  } finally {
    await app.close();
  }
}
