import type Database from 'better-sqlite3';
import type { Clock } from '../clock.ts';

export interface SessionSubscription {
  topic: string;
  qos: number;
}

/** How long after a change of a device's session subscriptions it is written (with the others of that time). */
const SESSION_WRITE_MS = 100;

/**
 * Persistent sessions' subscriptions (device → topic → QoS), kept in the registry's `session_subscriptions` table
 * and read once: every SDK device subscribes again at each connect, and the broker's thread asks at each CONNECT.
 * Changes are written SESSION_WRITE_MS later, together (a fleet's first start would otherwise cost an fsync per
 * SUBSCRIBE on the broker's thread).
 */
export class StoredSessions {
  private readonly sessions = new Map<string, Map<string, number>>();
  private writes: { deviceId: string; op: () => void }[] = [];
  private flushTimer: unknown = null;
  private readonly q;
  private readonly writeAll;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly clock: Clock,
  ) {
    this.q = {
      // For the device as it was when it subscribed: not for one deleted and added again before the write.
      add: db.prepare(
        'INSERT OR REPLACE INTO session_subscriptions (device_id, topic, qos) SELECT device_id, ?, ? FROM devices WHERE device_id = ? AND generation_id = ?',
      ),
      remove: db.prepare('DELETE FROM session_subscriptions WHERE device_id = ? AND topic = ?'),
      clear: db.prepare('DELETE FROM session_subscriptions WHERE device_id = ?'),
    };
    this.writeAll = db.transaction((ops: { op: () => void }[]) => {
      for (const w of ops) w.op();
    });
  }

  /** Loads the stored subscriptions; returns the generation of each device that has some. */
  load(): Map<string, string> {
    const generations = new Map<string, string>();
    const rows = this.db.prepare('SELECT device_id, topic, qos, generation_id FROM session_subscriptions JOIN devices USING (device_id)').all();
    for (const r of rows as { device_id: string; topic: string; qos: number; generation_id: string }[]) {
      if (!this.sessions.has(r.device_id)) this.sessions.set(r.device_id, new Map());
      this.sessions.get(r.device_id)!.set(r.topic, r.qos);
      generations.set(r.device_id, r.generation_id);
    }
    return generations;
  }

  of(deviceId: string): SessionSubscription[] {
    return [...(this.sessions.get(deviceId) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([topic, qos]) => ({ topic, qos }));
  }

  /** Adds (or replaces) filters of the session of the device's generation `generationId`. */
  add(deviceId: string, generationId: string, subscriptions: SessionSubscription[]): void {
    const kept = this.sessions.get(deviceId) ?? new Map<string, number>();
    const changed = subscriptions.filter((s) => kept.get(s.topic) !== s.qos);
    if (changed.length === 0) return;
    for (const s of changed) kept.set(s.topic, s.qos);
    this.sessions.set(deviceId, kept);
    this.later(deviceId, () => {
      for (const s of changed) this.q.add.run(s.topic, s.qos, deviceId, generationId);
    });
  }

  remove(deviceId: string, topics: string[]): void {
    const kept = this.sessions.get(deviceId);
    const gone = topics.filter((t) => kept?.delete(t));
    if (gone.length === 0) return;
    if (kept!.size === 0) this.sessions.delete(deviceId);
    this.later(deviceId, () => {
      for (const topic of gone) this.q.remove.run(deviceId, topic);
    });
  }

  /** The device connected with a clean session: its stored one is gone. */
  clear(deviceId: string): void {
    if (this.sessions.delete(deviceId)) this.later(deviceId, () => this.q.clear.run(deviceId));
  }

  /** A deleted device's: its rows went with it (ON DELETE CASCADE), and so do its writes still waiting. */
  forget(deviceId: string): void {
    this.sessions.delete(deviceId);
    if (this.writes.some((w) => w.deviceId === deviceId)) this.writes = this.writes.filter((w) => w.deviceId !== deviceId);
  }

  /** Writes what waits (at close). */
  flush(): void {
    if (this.flushTimer !== null) this.clock.clearTimeout(this.flushTimer);
    this.write();
  }

  private write(): void {
    this.flushTimer = null;
    const ops = this.writes;
    this.writes = [];
    try {
      if (ops.length > 0) this.writeAll(ops);
    } catch (err) {
      console.error(`thermostream: registry: cannot keep ${ops.length} change(s) of devices' sessions in ${this.file}: ${(err as Error).message}`);
    }
  }

  private later(deviceId: string, op: () => void): void {
    this.writes.push({ deviceId, op });
    if (this.flushTimer === null) {
      this.flushTimer = this.clock.setTimeout(() => this.write(), SESSION_WRITE_MS);
      (this.flushTimer as { unref?: () => void }).unref?.();
    }
  }
}
