/** The simulator's files: where a path given on the command line is, and the buffered JSONL writer of --out and --truth. */
import { createWriteStream, realpathSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { dirname, isAbsolute, resolve } from 'node:path';
import { invalidOption } from './errors.ts';

export interface LineWriter {
  write(line: string): void;
  /** Resolves once the stream has room again (fast, file-only runs await this between chunks). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A relative file path given on the command line, from the directory the user ran npm in: `npm run simulate` runs
 * this in the package's directory, and npm says where it was started (INIT_CWD; `npm --prefix ~/thermostream run
 * simulate -- --replay temps.csv` from the directory holding temps.csv). Unchanged when npm's `simulate` script did
 * not start this process (a process that only inherited npm's variables). The package's directory is compared by its
 * real path: a --prefix through a symbolic link names it otherwise than the process's working directory does.
 */
export function fromUserDir(path: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  const { INIT_CWD: started, npm_package_json: pkg, npm_lifecycle_event: script } = env;
  if (path === undefined || isAbsolute(path) || started === undefined || pkg === undefined || script !== 'simulate') return path;
  return samePlace(dirname(pkg), cwd) && !samePlace(started, cwd) ? resolve(started, path) : path;
}

function samePlace(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

const CHUNK = 64 * 1024;

/** Buffered JSONL writer: one write per ~64 KiB, backpressure exposed to fast runs. `option` (out, truth) names the flag in the error when the file cannot be created. */
export async function openLineWriter(option: string, path: string): Promise<LineWriter> {
  const stream: WriteStream = createWriteStream(path);
  try {
    await once(stream, 'open');
  } catch (error) {
    throw invalidOption(option, path, `a file that can be written; ${(error as Error).message}`);
  }
  let buffer = '';
  let full = false;
  const flush = () => {
    if (buffer.length === 0) return;
    if (!stream.write(buffer)) full = true;
    buffer = '';
  };
  return {
    write(line) {
      buffer += line;
      if (buffer.length >= CHUNK) flush();
    },
    async ready() {
      if (!full) return;
      await once(stream, 'drain');
      full = false;
    },
    async close() {
      flush();
      await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
    },
  };
}
