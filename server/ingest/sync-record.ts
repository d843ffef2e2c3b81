import { readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Per segment file: the length its last fdatasync covered, and whether its directory entry was fsync'ed. */
export interface SyncState {
  synced: number;
  dirSynced: boolean;
}

/**
 * Fault injection only (THERMOSTREAM_FAULT=power-cut-record): keeps, in a side file, what a power cut would leave
 * of the ingest log — each segment's fdatasync'ed length and whether its directory entry is durable — so a test can
 * cut the log down to exactly that after a SIGKILL. The file is replaced atomically (rename) after each change and
 * before the acknowledgements it allows are sent, so it never claims less than what was acknowledged.
 */
export class SyncRecord {
  private readonly segments = new Map<string, SyncState>();

  constructor(readonly file: string) {}

  /** At start-up: every segment on disk is taken as durable (the test cut it before this start). */
  reset(dir: string): void {
    this.segments.clear();
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.seg')) this.segments.set(name, { synced: statSync(join(dir, name)).size, dirSynced: true });
    }
    this.save();
  }

  created(name: string): void {
    this.segments.set(name, { synced: 0, dirSynced: false });
    this.save();
  }

  dirSynced(name: string): void {
    this.segments.set(name, { synced: this.segments.get(name)?.synced ?? 0, dirSynced: true });
    this.save();
  }

  synced(name: string, bytes: number): void {
    this.segments.set(name, { synced: bytes, dirSynced: this.segments.get(name)?.dirSynced ?? false });
    this.save();
  }

  removed(name: string): void {
    this.segments.delete(name);
    this.save();
  }

  private save(): void {
    writeFileSync(`${this.file}.tmp`, JSON.stringify(Object.fromEntries(this.segments)));
    renameSync(`${this.file}.tmp`, this.file);
  }
}

