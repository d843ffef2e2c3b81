/** Buffered JSONL writer for --out and --truth: one write per ~64 KiB, backpressure exposed to fast runs. */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { invalidOption } from './errors.ts';

export interface LineWriter {
  write(line: string): void;
  /** Resolves once the stream has room again (fast, file-only runs await this between chunks). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/** `option` (out, truth) names the flag in the error when the file cannot be created. */
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
