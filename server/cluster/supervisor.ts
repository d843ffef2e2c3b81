import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Config } from '../config.ts';
import { ThermostreamError } from '../errors.ts';
import { redactUrl } from '../url.ts';

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A child that ran this long before crashing is restarted after the shortest delay again. */
const STABLE_MS = 30_000;
/** How long a child may take to shut down after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 30_000;

/** Flags that act once, at the start they are given to: a restarted child must not discard or cut anything again. */
const ONE_SHOT = new Set(['--fresh', '--repair', '--rebalance']);

/**
 * One child's command line: the parent's options, then this instance's (later flags win). A restart (`restart`)
 * leaves out the one-shot flags: `--fresh` again after a crash would discard what the instance committed since.
 */
export function childArgs(argv: readonly string[], config: Config, n: number, i: number, restart = false): string[] {
  const ids = Array.from({ length: n }, (_, k) => `${config.cluster.instanceId}-${k}`);
  const args: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === '--instances') k++;
    else if (!argv[k].startsWith('--instances=') && !(restart && ONE_SHOT.has(argv[k].split('=')[0]))) args.push(argv[k]);
  }
  const port = config.http.port === 0 ? 0 : config.http.port + i;
  return [
    ...args,
    '--instance-id', ids[i],
    '--cluster-instances', ids.join(','),
    '--data-dir', join(config.dataDir, `instance-${i}`),
    '--broker-client-id', `${config.broker.clientId}-${i}`,
    '--http-port', String(port),
  ];
}

/**
 * cluster.instances given with --instances, which sets it for its children. Also checked before the configuration's
 * own checks, whose "it must contain this instance's id" would send the operator after --instance-id instead.
 */
export function listGiven(instances: readonly string[]): ThermostreamError {
  return new ThermostreamError('TS_ERR_SUPERVISOR', `--instances: cluster.instances = ${JSON.stringify(instances)}: --instances sets it for its children; remove it`);
}

/** What --instances needs: an external broker every child subscribes to, and a store every child writes to. */
export function checkSupervisable(config: Config, env: NodeJS.ProcessEnv): void {
  const refuse = (why: string): never => {
    throw new ThermostreamError('TS_ERR_SUPERVISOR', `--instances: ${why}`);
  };
  if (config.broker.url === '') {
    refuse('needs --broker mqtt://host:port: the instances subscribe to one broker (an embedded broker cannot be shared between processes)');
  }
  const storeUrl = config.store.url;
  if (storeUrl === '' && env.THERMOSTREAM_SUPERVISOR_LOCAL_STORE !== '1') {
    refuse(
      'needs --store postgres://…: a shared store, so that every instance answers for the whole fleet and a replacement resumes ' +
        'from the checkpoint (to run instances with separate SQLite stores, start each yourself: README, Several instances)',
    );
  }
  if (config.cluster.instances.length > 0) throw listGiven(config.cluster.instances);
  if (config.broker.shareGroup !== '') refuse('broker.shareGroup must be empty: every instance subscribes to all telemetry and keeps its own devices');
}

/**
 * --instances N: a process manager for N instances of the server on this machine, one process each (a 2-core box
 * then uses both cores). Child i is instance `${instanceId}-${i}` of the N, with its own data dir
 * `{dataDir}/instance-{i}`, its own broker client id and HTTP port (base + i, or any free one with 0). Output lines
 * are prefixed with the instance id; a child that dies is restarted with backoff; SIGTERM/SIGINT (or stop(), the
 * output's reader gone) go to every child, and the supervisor exits once they have.
 */
export async function runSupervisor(n: number, config: Config, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Supervisor> {
  checkSupervisable(config, env);
  const script = process.argv[1];
  let stopping = false;
  const children: (ChildProcess | null)[] = Array.from({ length: n }, () => null);
  const exited: Promise<void>[] = [];
  const delays = Array.from({ length: n }, () => RESTART_MIN_MS);
  const timers: (NodeJS.Timeout | undefined)[] = [];

  const start = (i: number, restart = false): void => {
    const id = `${config.cluster.instanceId}-${i}`;
    // An IPC channel: a child stops when it closes (the supervisor gone, even by SIGKILL), never left as an orphan.
    const child = spawn(process.execPath, [...process.execArgv, script, ...childArgs(argv, config, n, i, restart)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.once('error', (err) => {
      console.error(`thermostream supervisor: cannot start ${id}: ${err.message}`);
      if (child.pid === undefined) void stopAll(`${id} could not be started`, 1);
    });
    const started = Date.now();
    children[i] = child;
    createInterface({ input: child.stdout! }).on('line', (line) => process.stdout.write(`[${id}] ${line}\n`));
    createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`[${id}] ${line}\n`));
    exited[i] = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        children[i] = null;
        resolve();
        if (stopping) return;
        if (code === 2 || code === 3) {
          // 2: the configuration must change; 3: its data dir is damaged. Restarting would only repeat the refusal.
          console.error(`thermostream supervisor: ${id} refused to start (exit code ${code}); stopping every instance`);
          void stopAll(code === 2 ? 'configuration error' : 'damaged data dir', code);
          return;
        }
        if (Date.now() - started >= STABLE_MS) delays[i] = RESTART_MIN_MS;
        const delay = delays[i];
        delays[i] = Math.min(delay * 2, RESTART_MAX_MS);
        console.error(`thermostream supervisor: ${id} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
        timers[i] = setTimeout(() => start(i, true), delay);
      }),
    );
  };

  const stopAll = async (why: string, exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`thermostream supervisor: ${why}, stopping ${n} instance(s)`);
    for (const t of timers) clearTimeout(t);
    const kills = children.map((c) => {
      if (c === null) return undefined;
      c.kill('SIGTERM');
      return setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
    });
    await Promise.all(exited);
    for (const k of kills) clearTimeout(k);
    process.exit(exitCode);
  };

  console.log(`thermostream supervisor: ${n} instance(s) ${config.cluster.instanceId}-0…${n - 1} behind ${redactUrl(config.broker.url)}`);
  for (let i = 0; i < n; i++) start(i);
  process.on('SIGINT', () => void stopAll('SIGINT', 0));
  process.on('SIGTERM', () => void stopAll('SIGTERM', 0));
  return { stop: (why) => void stopAll(why, 0) };
}

export interface Supervisor {
  /** Stops every instance as SIGTERM does (for a stop that is no signal: the output's reader gone), then exits 0. */
  stop(why: string): void;
}
