/**
 * The server's process for one run: started by the benchmark (bench/harness.ts runHosted) with a HostJob, it starts
 * the server under test in-process — Thermostream via startThermostream(resolveConfig(...)), or the bare aedes
 * baseline — forks the load generator, measures, and sends the RunResult back. `node --cpu-prof` goes here.
 */
import type { HostJob } from './protocol.ts';

const job = JSON.parse(process.argv[2] ?? 'null') as HostJob | null;
if (job === null || typeof process.send !== 'function') {
  console.error('bench/server-host.ts is started by the benchmarks (bench/run.ts), not by hand');
  process.exit(2);
}

async function main(j: HostJob): Promise<void> {
  let result;
  if (j.kind === 'thermostream') {
    const { runThermostream, SCENARIOS } = await import('./ingest.ts');
    const s = SCENARIOS.find((x) => x.name === j.scenario);
    if (s === undefined) throw new Error(`unknown scenario ${j.scenario}`);
    result = await runThermostream(s, j.round, j.opts as Parameters<typeof runThermostream>[2]);
  } else if (j.kind === 'bare') {
    const { runBare } = await import('./baseline.ts');
    result = await runBare(j.qos, j.round, j.opts as Parameters<typeof runBare>[2], j.mode);
  } else if (j.kind === 'mosquitto') {
    const { runMosquitto } = await import('./mosquitto.ts');
    result = await runMosquitto(j.qos, j.tuned ? 'tuned' : 'default', j.round, j.opts as Parameters<typeof runMosquitto>[3]);
  } else if (j.kind === 'latency') {
    const { runLatency } = await import('./latency.ts');
    result = await runLatency(j.round, j.opts as Parameters<typeof runLatency>[1]);
  } else {
    const { runMemory } = await import('./memory.ts');
    result = await runMemory(j.target, j.round, j.opts as Parameters<typeof runMemory>[2]);
  }
  await new Promise<void>((resolve) => process.send!({ type: 'result', result }, () => resolve()));
  process.exit(0);
}

main(job).catch((err) => {
  console.error('bench: server host failed:', err);
  process.exit(1);
});
