import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './server-process.ts';
import { tempDir, waitFor } from './helpers.ts';
import { systemBinary } from './system.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SYSTEM_MOSQUITTO = '/usr/sbin/mosquitto';

/**
 * Which MQTT broker the external-broker tests run against (README, Development): `MOSQUITTO_PATH` when set; else
 * Debian's /usr/sbin/mosquitto (what .ci/run installs) when present; else the closest real substitute npm provides,
 * a standalone aedes broker in its own process. `MOSQUITTO_PATH=aedes` forces the substitute.
 */
export function externalBrokerKind(): { kind: 'mosquitto'; path: string } | { kind: 'aedes' } {
  const wanted = process.env.MOSQUITTO_PATH;
  if (wanted === 'aedes') return { kind: 'aedes' };
  if (wanted) {
    if (!existsSync(wanted)) throw new Error(`MOSQUITTO_PATH=${wanted}: no such file`);
    return { kind: 'mosquitto', path: wanted };
  }
  const system = systemBinary(SYSTEM_MOSQUITTO);
  return system !== null ? { kind: 'mosquitto', path: system } : { kind: 'aedes' };
}

/** What the test names say ran: "Mosquitto" or "aedes (no Mosquitto found)". */
export function externalBrokerName(): string {
  const b = externalBrokerKind();
  return b.kind === 'mosquitto' ? `Mosquitto (${b.path})` : 'a standalone aedes broker (no Mosquitto found)';
}

export interface RunningBroker {
  readonly url: string;
  readonly name: string;
  output(): string;
  stop(): Promise<void>;
  /** Stops it (SIGTERM: Mosquitto saves its sessions) and starts it again on the same port. */
  restart(): Promise<void>;
}

/**
 * Starts the broker on an ephemeral loopback port, stopped when the test ends. Mosquitto gets a temp config:
 * persistence on, anonymous clients, and in-flight/queue limits large enough that nothing a test sends is dropped
 * (its defaults, 20 in flight and 1000 queued per client, drop QoS 1 messages while the subscriber is away), then
 * `mosquittoConfig`'s lines (the aedes substitute takes none).
 */
export async function startExternalBroker(t: TestContext, mosquittoConfig: readonly string[] = []): Promise<RunningBroker> {
  const which = externalBrokerKind();
  const port = await freePort();
  let command: string;
  let args: string[];
  if (which.kind === 'mosquitto') {
    const dir = tempDir(t, 'thermostream-mosquitto-');
    chmodSync(dir, 0o777); // started as root, Mosquitto drops to its own user, which must write its database here
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        'max_inflight_messages 1000',
        'max_queued_messages 1000000',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        ...mosquittoConfig,
        '',
      ].join('\n'),
    );
    [command, args] = [which.path, ['-c', conf]];
  } else {
    [command, args] = [process.execPath, ['--import', 'tsx', join(ROOT, 'test/fixtures/aedes-broker.ts'), String(port)]];
  }
  let output = '';
  let child: ChildProcess;
  let exited: Promise<void>;
  const spawnBroker = async (): Promise<void> => {
    child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await waitFor(`the broker to listen on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}: ${output}`);
      return new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
    });
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  t.after(() => stop());
  await spawnBroker();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    name: externalBrokerName(),
    output: () => output,
    stop,
    async restart() {
      await stop();
      await spawnBroker();
    },
  };
}
