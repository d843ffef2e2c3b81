/**
 * What a user would build by hand, under the same load generator: a bare aedes broker whose authorizePublish
 * JSON.parses each payload and keeps per-device sums in a Map — no durable log, no dedupe, no windows, no SQLite,
 * QoS 1 acknowledged at once. Run interleaved with Thermostream (QoS 0 and QoS 1 durable) in the same script, so
 * the ratio Thermostream / bare broker is measured under the same noise.
 *
 *   npm run bench -- baseline [--runs 3] [--count 300000] ...
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { COMMON_DEFAULTS, COMMON_HELP, commonFlags, fmtRatio, machine, parseFlags, runHosted, table, type CommonOptions } from './harness.ts';
import { describeRun, measure, SCENARIOS, summarise, summaryTable, type RunResult } from './ingest.ts';

interface DeviceSums {
  count: number;
  sum: number;
  min: number;
  max: number;
  humiditySum: number;
  lastTs: number;
}

/**
 * The hand-built server: aedes + JSON.parse + a Map, and a stats endpoint shaped like Thermostream's. Mode 'count'
 * is the broker's own ceiling: aedes counting publishes, nothing parsed, nothing subscribed.
 */
export async function startBareBroker(mode: 'map' | 'count' = 'map'): Promise<{ mqttPort: number; statsUrl: string; aedes: Aedes; close(): Promise<void> }> {
  const devices = new Map<string, DeviceSums>();
  let records = 0;
  let bad = 0;
  const aedes = await Aedes.createBroker({
    authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) {
      if (client !== null && mode === 'count') records++;
      else if (client !== null) {
        const topic = packet.topic;
        const id = topic.slice(8, topic.length - 10); // devices/{id}/telemetry
        try {
          const r = JSON.parse(packet.payload.toString()) as { ts: number; temperature: number; humidity?: number };
          let d = devices.get(id);
          if (d === undefined) {
            d = { count: 0, sum: 0, min: Infinity, max: -Infinity, humiditySum: 0, lastTs: 0 };
            devices.set(id, d);
          }
          d.count++;
          d.sum += r.temperature;
          if (r.temperature < d.min) d.min = r.temperature;
          if (r.temperature > d.max) d.max = r.temperature;
          d.humiditySum += r.humidity ?? 0;
          if (r.ts > d.lastTs) d.lastTs = r.ts;
          records++;
        } catch {
          bad++;
        }
      }
      callback(null);
    },
  });
  const mqtt = createServer(aedes.handle);
  await new Promise<void>((resolve) => mqtt.listen(0, '127.0.0.1', resolve));
  const http = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ records, accepted: records, backlog: 0, rejected: { total: bad, byReason: bad ? { not_json: bad } : {} } }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    mqttPort: (mqtt.address() as AddressInfo).port,
    aedes,
    statsUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`,
    async close() {
      const closed = new Promise<void>((resolve) => mqtt.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closed;
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export async function runBare(qos: 0 | 1, round: number, opts: CommonOptions, mode: 'map' | 'count' = 'map'): Promise<RunResult> {
  const b = await startBareBroker(mode);
  try {
    return await measure(`${mode === 'count' ? 'ceiling' : 'bare'}-qos${qos}`, round, opts, qos, { host: '127.0.0.1', mqttPort: b.mqttPort, statsUrl: b.statsUrl });
  } finally {
    await b.close();
  }
}

export async function main(args: readonly string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(`npm run bench -- baseline [options]\n\n${COMMON_HELP}`);
    return 0;
  }
  const opts = parseFlags<CommonOptions>(args, COMMON_DEFAULTS, commonFlags);
  const ts = { ...opts, dataRoot: tmpdir() };
  const q0 = SCENARIOS.find((s) => s.name === 'qos0')!;
  const q1 = SCENARIOS.find((s) => s.name === 'qos1')!;
  console.log(`baseline: ${machine()}`);
  console.log(`baseline: bare aedes (authorizePublish → JSON.parse → Map of per-device sums) vs Thermostream; ${opts.count.toLocaleString('en-US')} readings per run, ${opts.connections} connections, ${opts.runs} interleaved runs`);
  const runs: Record<string, RunResult[]> = { 'bare-qos0': [], qos0: [], 'bare-qos1': [], qos1: [] };
  for (let round = 1; round <= opts.runs; round++) {
    for (const [name, run] of [
      ['bare-qos0', () => runHosted<RunResult>({ kind: 'bare', qos: 0, round, opts })],
      ['qos0', () => runHosted<RunResult>({ kind: 'thermostream', scenario: q0.name, round, opts: ts })],
      ['bare-qos1', () => runHosted<RunResult>({ kind: 'bare', qos: 1, round, opts })],
      ['qos1', () => runHosted<RunResult>({ kind: 'thermostream', scenario: q1.name, round, opts: ts })],
    ] as const) {
      const r = await run();
      runs[name].push(r);
      console.log(describeRun(r));
    }
  }
  const s = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, summarise(k, v)]));
  console.log();
  console.log(
    summaryTable([
      { label: 'bare aedes + Map, QoS 0', s: s['bare-qos0'] },
      { label: 'Thermostream, QoS 0', s: s.qos0 },
      { label: 'bare aedes + Map, QoS 1 (acks at once, nothing durable)', s: s['bare-qos1'] },
      { label: 'Thermostream, QoS 1 durable', s: s.qos1 },
    ]),
  );
  console.log();
  console.log(
    table(
      ['Thermostream / bare aedes (medians)', 'end to end', 'accepted'],
      [
        ['QoS 0', fmtRatio(s.qos0.e2e / s['bare-qos0'].e2e), fmtRatio(s.qos0.accept / s['bare-qos0'].accept)],
        ['QoS 1', fmtRatio(s.qos1.e2e / s['bare-qos1'].e2e), fmtRatio(s.qos1.accept / s['bare-qos1'].accept)],
      ],
    ),
  );
  console.log('(the bare broker has no batches: "end to end" = counted; Thermostream\'s includes waiting for the next 1 s batch)');
  console.log();
  console.log(`reproduce: npm run bench -- baseline ${args.join(' ')}`.trimEnd());
  const failed = Object.values(runs).flat().filter((r) => r.problems.length > 0);
  if (failed.length > 0) {
    console.error(`\nbaseline: ${failed.length} run(s) FAILED:`);
    for (const r of failed) console.error(`  ${r.target} #${r.round}: ${r.problems.join('; ')}`);
    return 1;
  }
  return 0;
}
