/**
 * textFileStream's source: at every batch time, lists the directory and reads each regular file it has not read
 * before, line by line, into that batch (files in name order). Each file name is read exactly once while it stays
 * in the directory; names that disappear are forgotten, so the memory held is bounded by the directory's size.
 *
 * File convention (also in docs/ENGINE.md): a file must be complete when its name appears. Write it under a
 * name starting with '.' or ending with '.tmp' — such names are ignored — then rename it into place (rename is
 * atomic within a file system). A file written in place under its final name may be read half-written, and a
 * file changed after it was read is not read again. With `newFilesOnly` (the default, as in Spark) the files
 * present when the context starts are ignored.
 */
import { readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { InputSource } from './input.ts';

export interface TextFileOptions {
  /** Ignore files already in the directory at start. Default true. */
  newFilesOnly?: boolean;
}

/** True for names the stream never reads: in-progress files by the convention above. */
export function isIgnoredFileName(name: string): boolean {
  return name.startsWith('.') || name.endsWith('.tmp');
}

export class TextFileSource implements InputSource<string> {
  private readonly seen = new Set<string>();
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
      for (const name of readdirSync(this.directory)) this.seen.add(name);
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
      return [];
    }
    const present = new Set<string>();
    const fresh: string[] = [];
    for (const entry of entries) {
      present.add(entry.name);
      if (this.seen.has(entry.name) || isIgnoredFileName(entry.name) || !entry.isFile()) continue;
      fresh.push(entry.name);
    }
    for (const name of this.seen) if (!present.has(name)) this.seen.delete(name);
    fresh.sort();
    const lines: string[] = [];
    for (const name of fresh) {
      let text: string;
      try {
        text = await readFile(path.join(this.directory, name), 'utf8');
      } catch (err) {
        this.report(err); // e.g. removed since the listing: it is no new file any more
        continue;
      }
      this.seen.add(name);
      const fileLines = text.split('\n');
      if (fileLines[fileLines.length - 1] === '') fileLines.pop();
      for (const line of fileLines) lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    this.lastError = '';
    return lines;
  }

  /** Logs a failure once until it changes or a scan succeeds, so a missing directory does not flood the log. */
  private report(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (message !== this.lastError) this.log(`textFileStream ${this.directory}: ${message}`);
    this.lastError = message;
  }
}
