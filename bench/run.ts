/**
 * Benchmark dispatcher: `npm run bench -- <name> [options]`; `npm run bench` alone runs every benchmark with its
 * defaults. Each benchmark is a module here exporting `main(args: string[]): Promise<number | void>` (its exit
 * code); a module without `main` is run by importing it.
 *
 *   ingest    end-to-end MQTT → ingest → engine throughput: QoS 0, QoS 1 durable, QoS 1 without fsync
 *   baseline     a bare aedes broker keeping per-device sums, against Thermostream, same load generator
 *   mosquitto    Debian's Mosquitto (defaults and tuned) + one mqtt.js subscriber, against Thermostream
 *   connections  K = 10, 100, 1,000 device connections, QoS 0 and 1, against aedes' own ceiling
 *   latency      publish → window result on the SSE stream and → SQLite commit, paced at 10 % and 80 %
 *   engine       the stream engine on its own (bench/engine.ts; skipped when that file does not exist)
 *   jobs         a job's telemetryStream reading the ingest log; a Livy batch's start and stop times
 *   anomalies    detection quality: simulated fleet with anomaly injection over MQTT, scored against its ground truth
 * Not in "all" (minutes each, needs Mosquitto, or not a benchmark):
 *   memory       10,000 device connections, idle then 1 reading/s each: RSS, bytes per device, heap, allocations
 *   profile      one QoS 1 ingest run under node --cpu-prof, summarised
 *   external     external broker mode draining its session, against MQTT.js
 *   store        the batch commit alone, SQLite against PostgreSQL, at 1,000 and 10,000 devices (starts PostgreSQL)
 *   instances    1 vs 2 instance processes behind Mosquitto, SQLite or one shared PostgreSQL (scale-out); ack after commit per subscription
 *   engine-fleet the engine alone at fleet scale (10,000 devices × 1 reading/s): ms, windows, heap per device per batch
 *   decode       ingest's per-message decode alone: the JSON.parse path against the fast path, ns and bytes per message
 *   startup      the server at rest, built (npm start) against from source (tsx): time to ready, idle RSS, threads
 *   windows-table  SQLite's windows table at size: the upgrade to schema 7, and a device's window queries after it
 *   device-lists   the newest-first lists filtered by device (anomalies, dead letters, late readings) at size
 *   window-transfer  a batch's window results from the batch thread to the main thread: cloned objects against packed
 *   backlog      one device's backlog of hours in one batch (thousands of its panes): the job's time per reading
 *   batch-side   the batch thread's work in a burst: the log's blocks into BatchRunner.add() (decode, job, recent readings), ms and GC
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './harness.ts';

const BENCHMARKS: Record<string, string> = {
  ingest: './ingest.ts',
  baseline: './baseline.ts',
  mosquitto: './mosquitto.ts',
  connections: './connections.ts',
  latency: './latency.ts',
  engine: './engine.ts',
  jobs: './jobs.ts',
  anomalies: './anomalies.ts',
};
const TOOLS: Record<string, string> = {
  memory: './memory.ts',
  'engine-fleet': './engine-fleet.ts',
  profile: './profile.ts',
  external: './external.ts',
  store: './store.ts',
  instances: './instances.ts',
  decode: './decode.ts',
  startup: './startup.ts',
  'windows-table': './windows-table.ts',
  'device-lists': './device-lists.ts',
  'window-transfer': './window-transfer.ts',
  backlog: './backlog.ts',
  'batch-side': './batch-side.ts',
};

type BenchModule = { main?: (args: string[]) => Promise<number | void> | number | void };

async function runOne(name: string, file: string, args: string[]): Promise<number> {
  const url = new URL(file, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    console.log(`bench: skipping ${name}: ${fileURLToPath(url)} does not exist`);
    return 0;
  }
  console.log(`\n=== bench ${name} ===`);
  const mod = (await import(url.href)) as BenchModule;
  if (typeof mod.main !== 'function') return 0;
  try {
    return (await mod.main(args)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bench ${name}: ${err.message} (see npm run bench -- ${name} --help)`);
      return 2;
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'all') {
    let code = 0;
    for (const [n, f] of Object.entries(BENCHMARKS)) code = Math.max(code, await runOne(n, f, args));
    return code;
  }
  if (name === '--help' || name === 'help') {
    console.log(`npm run bench [-- <name> [options]]   names: ${Object.keys(BENCHMARKS).join(', ')} (no name: all); tools: ${Object.keys(TOOLS).join(', ')}`);
    return 0;
  }
  const file = BENCHMARKS[name] ?? TOOLS[name];
  if (file === undefined) {
    console.error(`bench: unknown benchmark ${JSON.stringify(name)}; known: ${[...Object.keys(BENCHMARKS), ...Object.keys(TOOLS)].join(', ')}`);
    return 2;
  }
  return runOne(name, file, args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error('bench: failed:', err);
    process.exit(1);
  },
);
