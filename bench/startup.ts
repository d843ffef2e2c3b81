/**
 * The server at rest, as `npm start` runs it (built: node server/dist/start.mjs, which loads main.mjs) against from its TypeScript (node
 * --import tsx server/main.ts), both with npm start's node flags, interleaved in one script: time until it serves
 * (GET /readyz answers 200), RSS once idle, and the number of threads. Each run is a fresh process on a fresh data dir,
 * ports chosen by the OS, nothing connected.
 *
 *   npm run bench -- startup [--runs N] [--idle S]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmtInt, fmtMB, fmtRatio, machine, median, parseFlags, positiveInt, REPO, SERVER_NODE_FLAGS, table } from './harness.ts';

interface Options {
  runs: number;
  idleS: number;
}

const USAGE = `npm run bench -- startup [options]

  --runs N    runs of each way to start, interleaved; medians are reported (default 5)
  --idle S    seconds the server stays idle before its RSS is read (default 10)`;

const WAYS = [
  { name: 'built (npm start)', args: [join(REPO, 'server/dist/start.mjs')] },
  { name: 'from source (tsx)', args: ['--import', 'tsx', 'server/main.ts'] },
] as const;

interface Sample {
  readyMs: number;
  rss: number;
  threads: number;
}

const status = (pid: number, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

async function once(args: readonly string[], idleS: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'ts-startup-'));
  const started = performance.now();
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...args, '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1', '--data-dir', dir], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    let readyMs = NaN;
    while (Date.now() < deadline && Number.isNaN(readyMs)) {
      await new Promise((r) => setTimeout(r, 20));
      url ??= /HTTP API\s+(http:\/\/\S+?)\/api\/v1\//.exec(out)?.[1];
      if (url === undefined) continue;
      const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
      if (ok) readyMs = performance.now() - started;
    }
    if (Number.isNaN(readyMs)) throw new Error(`the server did not become ready within 60 s: ${out}`);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    return { readyMs, rss: status(child.pid!, 'VmRSS') * 1024, threads: readdirSync(`/proc/${child.pid}/task`).length };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags<Options>(args, { runs: 5, idleS: 10 }, {
    '--runs': (v, o) => (o.runs = positiveInt('--runs', v)),
    '--idle': (v, o) => (o.idleS = positiveInt('--idle', v)),
  });
  console.log(`startup: ${machine()}; node flags ${SERVER_NODE_FLAGS.join(' ') || 'none'}; ${o.runs} runs each, interleaved, RSS after ${o.idleS} s idle`);
  const samples = WAYS.map(() => [] as Sample[]);
  for (let run = 1; run <= o.runs; run++) {
    for (const [i, way] of WAYS.entries()) {
      const s = await once(way.args, o.idleS);
      samples[i].push(s);
      console.log(`  ${way.name.padEnd(18)} #${run}  ready in ${fmtInt(s.readyMs)} ms, RSS ${fmtMB(s.rss)}, ${s.threads} threads`);
    }
  }
  const med = (i: number, f: (s: Sample) => number) => median(samples[i].map(f));
  console.log(
    '\n' +
      table(
        ['server', 'ready in (median)', 'idle RSS (median)', 'RSS per run', 'threads'],
        WAYS.map((w, i) => [w.name, `${fmtInt(med(i, (s) => s.readyMs))} ms`, fmtMB(med(i, (s) => s.rss)), samples[i].map((s) => fmtMB(s.rss)).join(' / '), String(med(i, (s) => s.threads))]),
      ),
  );
  console.log(`\nfrom source / built: idle RSS ${fmtRatio(med(1, (s) => s.rss) / med(0, (s) => s.rss))}, ready in ${fmtRatio(med(1, (s) => s.readyMs) / med(0, (s) => s.readyMs))}`);
  console.log(`reproduce: npm run bench -- startup --runs ${o.runs} --idle ${o.idleS}`);
  return 0;
}
