/**
 * textFileStream's source: at every batch time, lists the directory and reads each regular file it has not read
 * before, line by line, into that batch (files in name order). A file is known by its name and its identity (device
 * and inode): each is read exactly once while it stays in the directory, and a new file that takes an old name
 * (renamed over it, or created after it was removed) is new. Names that disappear are forgotten, so the memory held
 * is bounded by the directory's size.
 *
 * File convention (also in docs/ENGINE.md): a file must be complete when its name appears. Write it under a
 * name starting with '.' or ending with '.tmp' — such names are ignored — then rename it into place (rename is
 * atomic within a file system). A file written in place under its final name may be read half-written, and a
 * file changed after it was read is not read again. With `newFilesOnly` (the default, as in Spark) the files
 * present when the context starts are ignored.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { InputSource } from './input.ts';

export interface TextFileOptions {
  /** Ignore files already in the directory at start. Default true. */
  newFilesOnly?: boolean;
}

/** True for names the stream never reads: in-progress files by the convention above. */
export function isIgnoredFileName(name: string): boolean {
  return name.startsWith('.') || name.endsWith('.tmp');
}

/** A file's identity: the same name with another inode is another file. */
const identity = (st: { dev: number; ino: number }): string => `${st.dev}:${st.ino}`;

export class TextFileSource implements InputSource<string> {
  /** name → identity of the file read (or found at start) under that name. */
  private readonly seen = new Map<string, string>();
  /** Scans run one after another so that a file is never claimed by two batches. */
  private previousScan: Promise<unknown> = Promise.resolve();
  private lastError = '';

  constructor(
    private readonly directory: string,
    private readonly options: TextFileOptions,
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    if (this.options.newFilesOnly === false) return;
    try {
      for (const name of readdirSync(this.directory)) {
        this.seen.set(name, identity(statSync(path.join(this.directory, name))));
      }
    } catch (err) {
      this.report(err);
    }
  }

  take(): Promise<readonly string[]> {
    const scan = this.previousScan.then(() => this.scan());
    this.previousScan = scan;
    return scan;
  }

  private async scan(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.directory, { withFileTypes: true });
    } catch (err) {
      this.report(err);
      this.seen.clear(); // a directory created again later holds new files, whatever their names
      return [];
    }
    const present = new Set<string>();
    const fresh: string[] = [];
    for (const entry of entries) {
      present.add(entry.name);
      if (isIgnoredFileName(entry.name) || !entry.isFile()) continue;
      fresh.push(entry.name);
    }
    for (const name of this.seen.keys()) if (!present.has(name)) this.seen.delete(name);
    fresh.sort();
    const lines: string[] = [];
    for (const name of fresh) {
      const file = path.join(this.directory, name);
      let id: string;
      try {
        id = identity(await stat(file));
      } catch (err) {
        this.report(err, file); // removed since the listing: no new file any more
        continue;
      }
      if (this.seen.get(name) === id) continue;
      // Claimed before reading: a file that cannot be read is reported once, not retried (and logged) every batch.
      this.seen.set(name, id);
      try {
        await readLines(file, lines);
      } catch (err) {
        this.report(err, file);
      }
    }
    return lines;
  }

  /** Logs a failure once until it changes, so a missing directory does not flood the log. */
  private report(err: unknown, file = this.directory): void {
    const message = `${file}: ${err instanceof Error ? err.message : String(err)}`;
    if (message !== this.lastError) this.log(`textFileStream ${message}`);
    this.lastError = message;
  }
}

/** Appends the file's lines (without \n or \r\n) to `into`, streaming: no size limit but the batch's own. */
async function readLines(file: string, into: string[]): Promise<void> {
  const input = createReadStream(file, { encoding: 'utf8' });
  for await (const line of createInterface({ input, crlfDelay: Infinity })) into.push(line);
}
