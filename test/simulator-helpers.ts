/** Test helpers for the simulator tests: the CLI as a child process, an embedded broker that records what it received. */
import { spawn } from 'node:child_process';
import { createBroker, type Broker } from '../server/broker/index.ts';
import type { Client, PublishPacket } from 'aedes';

export interface Received {
  broker: Broker;
  /** PUBLISH packets received (including malformed ones and resends). */
  packets: number;
  /** seqs received per device id (from valid telemetry payloads, arrays flattened). */
  seqs: Map<string, number[]>;
  topics: Map<string, number>;
  /** Connected broker-side clients by client id (to cut a connection). */
  clients: Map<string, Client>;
  /** Payloads that did not parse as telemetry. */
  unparsed: number;
  /** Called before a packet is released; return false to hold back its acknowledgement. */
  hook?: (clientId: string, packet: PublishPacket) => boolean;
}

export async function recordingBroker(): Promise<Received> {
  const state = { packets: 0, seqs: new Map<string, number[]>(), topics: new Map<string, number>(), clients: new Map<string, Client>(), unparsed: 0 } as Omit<Received, 'broker'> & {
    broker?: Broker;
  };
  state.broker = await createBroker(
    { host: '127.0.0.1', port: 0 },
    {
      onPublish(clientId, packet, done) {
        state.packets++;
        if (state.hook && !state.hook(clientId, packet)) return;
        state.topics.set(packet.topic, (state.topics.get(packet.topic) ?? 0) + 1);
        const m = /^devices\/([^/]+)\/telemetry$/.exec(packet.topic);
        try {
          if (!m) throw new Error('topic');
          const body: unknown = JSON.parse(packet.payload.toString());
          const items = Array.isArray(body) ? body : [body];
          for (const item of items as { seq?: unknown; ts?: unknown; temperature?: unknown; humidity?: unknown; deviceId?: unknown }[]) {
            const ok =
              typeof item.seq === 'number' &&
              typeof item.temperature === 'number' &&
              Number.isFinite(item.temperature) &&
              (item.humidity === undefined || typeof item.humidity === 'number') &&
              typeof item.ts === 'string' &&
              Date.parse(item.ts) <= Date.now() + 60_000 &&
              item.deviceId === undefined &&
              packet.payload.length <= 64 * 1024;
            if (!ok) throw new Error('not a valid reading');
            let list = state.seqs.get(m[1] as string);
            if (!list) state.seqs.set(m[1] as string, (list = []));
            list.push(item.seq as number);
          }
        } catch {
          state.unparsed++;
        }
        done();
      },
    },
  );
  state.broker.aedes.on('client', (client: Client) => state.clients.set(client.id, client));
  return state as Received;
}

/** Asserts that each device's received seqs cover 1..n exactly (ignoring resends), returns the distinct count. */
export function distinctSeqs(seqs: number[]): number[] {
  return [...new Set(seqs)].sort((a, b) => a - b);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

const ROOT = new URL('..', import.meta.url).pathname;

/** `npm run simulate -- args` as a child process (killed after timeoutMs): its exit code and output. */
export function runSimulator(args: string[], o: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'simulator/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
