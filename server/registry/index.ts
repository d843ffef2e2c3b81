import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { prepareDataDir } from '../data-dir-lock.ts';
import { HttpError } from '../errors.ts';
import { DEVICE_ID } from '../ingest/decode.ts';
import { openRegistryDb, registryFile } from './db.ts';
import { StoredSessions, type SessionSubscription } from './sessions.ts';
import { MAX_TWIN_BYTES, mergePatch, patchProblem, type Properties } from './twin.ts';
export { defaultHostName } from '../url.ts';
export { registryFile } from './db.ts';

/**
 * Device identities, their keys, twins and queued cloud-to-device messages, in their own SQLite file
 * (`{dataDir}/registry.db`). It knows nothing of MQTT: the broker asks it for credentials and twins, the API and the
 * CLI manage it.
 */
export interface Device {
  deviceId: string;
  generationId: string;
  status: 'enabled' | 'disabled';
  primaryKey: string;
  secondaryKey: string;
  createdAt: number;
  statusUpdatedAt: number;
}

export interface Twin {
  deviceId: string;
  desired: Properties;
  desiredVersion: number;
  reported: Properties;
  reportedVersion: number;
}

export interface CloudMessage {
  seq: number;
  deviceId: string;
  messageId: string;
  body: Buffer;
  properties: Record<string, string>;
  enqueuedAt: number;
}

export type { SessionSubscription } from './sessions.ts';

/** How often a server looks at the registry file for devices the devices CLI deleted or disabled (one PRAGMA when nothing changed). */
export const REGISTRY_SYNC_MS = 1000;

/** Cloud-to-device messages queued per device at most (IoT Hub's limit is 50). */
export const MAX_QUEUED_MESSAGES = 50;
/** IoT Hub's cloud-to-device message size limit. */
export const MAX_CLOUD_MESSAGE_BYTES = 64 * 1024;

export interface Registry {
  readonly file: string;
  create(deviceId: string, options?: { primaryKey?: string; secondaryKey?: string; status?: 'enabled' | 'disabled' }): Device;
  get(deviceId: string): Device | undefined;
  /** The device, or a 404 naming it. */
  require(deviceId: string): Device;
  /** By deviceId; a page of at most `limit` devices after `after` when given. */
  list(page?: { after?: string; limit?: number }): Device[];
  setStatus(deviceId: string, status: 'enabled' | 'disabled'): Device;
  delete(deviceId: string): void;
  credentials(deviceId: string): Pick<Device, 'status' | 'primaryKey' | 'secondaryKey'> | undefined;
  twin(deviceId: string): Twin;
  /** Merges a reported-properties patch; returns the new reported version. */
  patchReported(deviceId: string, patch: unknown): number;
  /** Merges a desired-properties patch; returns the new desired version. */
  patchDesired(deviceId: string, patch: unknown): number;
  enqueue(deviceId: string, message: { body: Buffer; properties: Record<string, string>; messageId?: string }): CloudMessage;
  queued(deviceId: string): CloudMessage[];
  queuedCount(deviceId: string): number;
  dequeue(seq: number): void;
  /** The topic filters of the device's persistent MQTT session (kept across server restarts, as IoT Hub does). */
  sessionSubscriptions(deviceId: string): SessionSubscription[];
  /** Adds (or replaces) filters of the device's persistent session. */
  addSessionSubscriptions(deviceId: string, subscriptions: SessionSubscription[]): void;
  removeSessionSubscriptions(deviceId: string, topics: string[]): void;
  /** The device connected with a clean session: its stored one is gone. */
  clearSession(deviceId: string): void;
  /**
   * Calls `listener` with the id of a device deleted, whose session (and connection) must go: deleted here, or by
   * another process writing the file (the devices CLI), noticed by `sync()` or at the device's next `credentials()`
   * (deleted and added again: a new generationId). Its stored session is already forgotten.
   */
  onDeleted(listener: (deviceId: string) => void): void;
  /** Calls `listener` with the id of a device known here that another process (the devices CLI) disabled, noticed by `sync()`. */
  onDisabled(listener: (deviceId: string) => void): void;
  /** Notices devices other processes deleted or disabled since the last call; one PRAGMA when the file has not changed. */
  sync(): void;
  /** Calls sync() every REGISTRY_SYNC_MS (its errors to `onError`) until the function returned is called. */
  watch(onError: (err: Error) => void): () => void;
  close(): void;
}

/** A symmetric key as IoT Hub generates them: 32 random bytes, base64. */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

/** IoT Hub accepts keys of 16 to 64 bytes, base64-encoded (canonically: what a schema's pattern cannot say). */
export function isValidKey(key: string): boolean {
  const bytes = Buffer.from(key, 'base64');
  return /^[A-Za-z0-9+/]+={0,2}$/.test(key) && bytes.toString('base64') === key && bytes.length >= 16 && bytes.length <= 64;
}

function checkKey(key: string, name: string): void {
  if (!isValidKey(key)) {
    throw new HttpError(400, 'TS_ERR_BAD_REQUEST', `${name} must be 16 to 64 bytes in base64, got ${JSON.stringify(key.slice(0, 20))}${key.length > 20 ? '…' : ''}`);
  }
}

export function checkDeviceId(deviceId: unknown): asserts deviceId is string {
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) {
    throw new HttpError(400, 'TS_ERR_BAD_REQUEST', `deviceId ${JSON.stringify(deviceId)} must match ${DEVICE_ID.source}`);
  }
}

export function connectionString(hostName: string, device: Pick<Device, 'deviceId' | 'primaryKey'>): string {
  return `HostName=${hostName};DeviceId=${device.deviceId};SharedAccessKey=${device.primaryKey}`;
}

export function createRegistry(dataDir: string, deps: { clock: Clock }): Registry {
  const { clock } = deps;
  prepareDataDir(dataDir); // not mkdirSync's recursive form, which loops in Node 20 where no directory can be made
  const file = registryFile(dataDir);
  const db = openRegistryDb(file);

  const q = {
    insert: db.prepare(
      'INSERT INTO devices (device_id, generation_id, status, primary_key, secondary_key, created_at, status_updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    get: db.prepare('SELECT * FROM devices WHERE device_id = ?'),
    list: db.prepare('SELECT * FROM devices ORDER BY device_id'),
    page: db.prepare('SELECT * FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?'),
    status: db.prepare('UPDATE devices SET status = ?, status_updated_at = ? WHERE device_id = ?'),
    delete: db.prepare('DELETE FROM devices WHERE device_id = ?'),
    reported: db.prepare('UPDATE devices SET reported = ?, reported_version = reported_version + 1 WHERE device_id = ? RETURNING reported_version'),
    desired: db.prepare('UPDATE devices SET desired = ?, desired_version = desired_version + 1 WHERE device_id = ? RETURNING desired_version'),
    enqueue: db.prepare('INSERT INTO cloud_messages (device_id, message_id, body, properties, enqueued_at) VALUES (?, ?, ?, ?, ?) RETURNING seq'),
    queued: db.prepare('SELECT * FROM cloud_messages WHERE device_id = ? ORDER BY seq'),
    queuedCount: db.prepare('SELECT count(*) AS n FROM cloud_messages WHERE device_id = ?'),
    dequeue: db.prepare('DELETE FROM cloud_messages WHERE seq = ?'),
    generation: db.prepare('SELECT generation_id FROM devices WHERE device_id = ?').pluck(),
    generations: db.prepare('SELECT device_id, generation_id, status FROM devices'),
  };

  const sessions = new StoredSessions(db, file, clock);
  /**
   * The generation (a new one at each create) of the devices this process keeps something of (a stored session, a
   * connection it authenticated): a device that another process deleted, or deleted and added again, is forgotten.
   */
  const known = sessions.load();
  const deletedListeners: ((deviceId: string) => void)[] = [];
  const disabledListeners: ((deviceId: string) => void)[] = [];
  // Changes when another connection (process) commits to the file; this connection's own commits leave it alone.
  const dataVersion = (): number => db.pragma('data_version', { simple: true }) as number;
  let seenVersion = dataVersion();

  /** A deleted device's stored session goes with it, and so do the writes of it still waiting. */
  function forget(deviceId: string): void {
    known.delete(deviceId);
    sessions.forget(deviceId);
    for (const listener of deletedListeners) listener(deviceId);
  }
  /**
   * The device's row as read now: one that is gone, or is another generation than the one known, was deleted (and
   * forgotten: false).
   */
  function notice(deviceId: string, generationId: string | undefined): boolean {
    const was = known.get(deviceId);
    if (was !== undefined && was !== generationId) forget(deviceId);
    if (generationId !== undefined) known.set(deviceId, generationId);
    return was === undefined || was === generationId;
  }

  const toDevice = (r: any): Device => ({
    deviceId: r.device_id,
    generationId: r.generation_id,
    status: r.status,
    primaryKey: r.primary_key,
    secondaryKey: r.secondary_key,
    createdAt: r.created_at,
    statusUpdatedAt: r.status_updated_at,
  });
  const get = (deviceId: string): Device | undefined => {
    const row = q.get.get(deviceId);
    return row === undefined ? undefined : toDevice(row);
  };
  const require = (deviceId: string): Device => {
    checkDeviceId(deviceId);
    const d = get(deviceId);
    if (d === undefined) throw new HttpError(404, 'TS_ERR_DEVICE_NOT_FOUND', `device "${deviceId}" is not registered`);
    return d;
  };

  function patch(deviceId: string, body: unknown, which: 'desired' | 'reported'): number {
    const problem = patchProblem(body);
    if (problem !== null) throw new HttpError(400, 'TS_ERR_BAD_REQUEST', problem);
    return db.transaction(() => {
      const row = q.get.get(deviceId) as any;
      if (row === undefined) throw new HttpError(404, 'TS_ERR_DEVICE_NOT_FOUND', `device "${deviceId}" is not registered`);
      const next = JSON.stringify(mergePatch(JSON.parse(row[which]), body as Properties));
      if (Buffer.byteLength(next) > MAX_TWIN_BYTES) {
        throw new HttpError(400, 'TS_ERR_BAD_REQUEST', `${which} properties would exceed ${MAX_TWIN_BYTES} bytes`);
      }
      const out = (which === 'desired' ? q.desired : q.reported).get(next, deviceId) as Record<string, number>;
      return out[`${which}_version`];
    })();
  }

  const toMessage = (r: any): CloudMessage => ({
    seq: r.seq,
    deviceId: r.device_id,
    messageId: r.message_id,
    body: r.body,
    properties: JSON.parse(r.properties),
    enqueuedAt: r.enqueued_at,
  });

  return {
    file,
    create(deviceId, options = {}) {
      checkDeviceId(deviceId);
      const primaryKey = options.primaryKey ?? generateKey();
      const secondaryKey = options.secondaryKey ?? generateKey();
      checkKey(primaryKey, 'primaryKey');
      checkKey(secondaryKey, 'secondaryKey');
      const now = clock.now();
      try {
        q.insert.run(deviceId, randomUUID(), options.status ?? 'enabled', primaryKey, secondaryKey, now, now);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new HttpError(409, 'TS_ERR_DEVICE_EXISTS', `device "${deviceId}" is already registered`);
        }
        throw err;
      }
      return get(deviceId)!;
    },
    get,
    require,
    list: (page) => (page === undefined ? q.list.all() : q.page.all(page.after ?? '', page.limit ?? -1)).map(toDevice),
    setStatus(deviceId, status) {
      require(deviceId);
      q.status.run(status, clock.now(), deviceId);
      return get(deviceId)!;
    },
    delete(deviceId) {
      require(deviceId);
      q.delete.run(deviceId); // its stored session with it (ON DELETE CASCADE)
      forget(deviceId);
    },
    credentials(deviceId) {
      const d = get(deviceId);
      notice(deviceId, d?.generationId);
      return d && { status: d.status, primaryKey: d.primaryKey, secondaryKey: d.secondaryKey };
    },
    twin(deviceId) {
      require(deviceId);
      const r = q.get.get(deviceId) as any;
      return { deviceId, desired: JSON.parse(r.desired), desiredVersion: r.desired_version, reported: JSON.parse(r.reported), reportedVersion: r.reported_version };
    },
    patchReported: (deviceId, body) => patch(deviceId, body, 'reported'),
    patchDesired: (deviceId, body) => patch(deviceId, body, 'desired'),
    enqueue(deviceId, message) {
      require(deviceId);
      if (message.body.length > MAX_CLOUD_MESSAGE_BYTES) {
        throw new HttpError(400, 'TS_ERR_BAD_REQUEST', `message of ${message.body.length} bytes exceeds ${MAX_CLOUD_MESSAGE_BYTES}`);
      }
      const n = (q.queuedCount.get(deviceId) as { n: number }).n;
      if (n >= MAX_QUEUED_MESSAGES) {
        throw new HttpError(403, 'TS_ERR_BAD_REQUEST', `device "${deviceId}" already has ${n} queued messages (the limit is ${MAX_QUEUED_MESSAGES})`);
      }
      const messageId = message.messageId ?? randomUUID();
      const now = clock.now();
      const { seq } = q.enqueue.get(deviceId, messageId, message.body, JSON.stringify(message.properties), now) as { seq: number };
      return { seq, deviceId, messageId, body: message.body, properties: message.properties, enqueuedAt: now };
    },
    queued: (deviceId) => q.queued.all(deviceId).map(toMessage),
    queuedCount: (deviceId) => (q.queuedCount.get(deviceId) as { n: number }).n,
    dequeue(seq) {
      q.dequeue.run(seq);
    },
    sessionSubscriptions: (deviceId) => sessions.of(deviceId),
    addSessionSubscriptions(deviceId, subscriptions) {
      // A device that is not registered (authentication off) has no stored session.
      const generationId = q.generation.get(deviceId) as string | undefined;
      // A connection of the generation deleted (by another process) is not the device added since: nothing kept.
      if (generationId === undefined || !notice(deviceId, generationId)) return;
      sessions.add(deviceId, generationId, subscriptions);
    },
    removeSessionSubscriptions: (deviceId, topics) => sessions.remove(deviceId, topics),
    clearSession: (deviceId) => sessions.clear(deviceId),
    onDeleted(listener) {
      deletedListeners.push(listener);
    },
    onDisabled(listener) {
      disabledListeners.push(listener);
    },
    sync() {
      const version = dataVersion();
      if (version === seenVersion) return;
      // One pass over the table (≈ 150 ms at 100,000 devices, and only after another process wrote it), not a query
      // per device known.
      const now = new Map((q.generations.raw().all() as [string, string, string][]).map(([id, generation, status]) => [id, { generation, status }]));
      for (const [deviceId, generationId] of [...known]) {
        const row = now.get(deviceId);
        if (row?.generation !== generationId) forget(deviceId);
        else if (row.status === 'disabled') for (const listener of disabledListeners) listener(deviceId);
      }
      seenVersion = version;
    },
    watch(onError) {
      let timer: unknown;
      const next = (): void => {
        timer = clock.setTimeout(() => {
          try {
            this.sync();
          } catch (err) {
            onError(err as Error);
          }
          next();
        }, REGISTRY_SYNC_MS);
        (timer as { unref?: () => void }).unref?.();
      };
      next();
      return () => clock.clearTimeout(timer);
    },
    close() {
      if (db.open) {
        sessions.flush();
        db.close();
      }
    },
  };
}
