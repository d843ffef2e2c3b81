import type { ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Anomaly } from '../engine/detectors/index.ts';
import { unpackDeviceWindows, type CommittedBatch, type WindowResult } from '../engine/index.ts';
import type { BatchRow, Store } from '../store/index.ts';
import { iso, isoOrNull } from './params.ts';
import { anomalyItem, windowItem } from './schemas.ts';

export const STREAM_KINDS = ['window', 'anomaly', 'batch'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export interface StreamFilter {
  /** null: every device (fleet-wide windows, deviceId *, included). */
  deviceIds: ReadonlySet<string> | null;
  kinds: ReadonlySet<StreamKind>;
}

/** One server-sent event, rendered when first sent (then once for every subscriber it matches). */
interface StreamEvent {
  kind: StreamKind;
  /** null for batch events, which every device filter lets through. */
  deviceId: string | null;
  /** `event: …\ndata: …\n`, without the id line and the blank line. */
  readonly text: string;
}

/** A batch's events, built (sorted) when first needed: with nobody listening, a batch costs one reference. */
interface BatchEvents {
  batch: number;
  /** How many events, for the memory bound. */
  size: number;
  readonly events: StreamEvent[];
}

function lazyEvent(kind: StreamKind, deviceId: string | null, data: () => unknown): StreamEvent {
  let text: string | null = null;
  return {
    kind,
    deviceId,
    get text() {
      return (text ??= render(kind, data()));
    },
  };
}

function lazyBatch(batch: number, size: number, build: () => StreamEvent[]): BatchEvents {
  let events: StreamEvent[] | null = null;
  return {
    batch,
    size,
    get events() {
      return (events ??= build());
    },
  };
}

interface Subscriber {
  res: ServerResponse;
  filter: StreamFilter;
  /** Batches up to this one were sent (or replayed): live batches at or below it are skipped. */
  lastBatch: number;
  /** The client went away (while its replay was being read from the store). */
  gone?: boolean;
  /** Since when more than MAX_BUFFERED_BYTES of what it was sent is unread; null: not now. */
  unreadSince?: number | null;
}

export interface SseHub {
  /** The engine's onBatch listener: keeps the committed batch and sends its events to the subscribers. */
  publish(batch: CommittedBatch): void;
  /**
   * Whether the batches starting now should bring their device windows (the engine's onBatch `deviceWindows`):
   * while a client is subscribed or resuming, and for MEMORY_BATCHES batches after the last one left, for a client
   * that comes back to resume from memory. A batch published without them is read from the store by whoever needs it.
   */
  wantsDeviceWindows(): boolean;
  /**
   * Adds a client whose response head is written: replays what it missed after `lastEventId` (from memory, else
   * from the store), then streams live. Returns a function that removes it.
   */
  subscribe(res: ServerResponse, filter: StreamFilter, lastEventId: number | null): () => void;
  readonly clients: number;
  /** Ends every stream (clients reconnect to the next server with their Last-Event-ID). */
  close(): Promise<void>;
}

/** How many recent batches' events stay in memory for resuming clients, and at most how many events in all. */
export const MEMORY_BATCHES = 600;
const MEMORY_EVENTS = 50_000;
/**
 * A replay from the store of more window results than this is not read (the store counts them first): the client
 * gets `event: reset` instead. Reading them blocks the main thread (SQLite is synchronous): ≈ 30 ms per 1,000.
 */
export const REPLAY_MAX_WINDOWS = 20_000;
const REPLAY_MAX_BATCHES = 100_000;
/**
 * A client that does not read is disconnected (it resumes with Last-Event-ID): more than MAX_BUFFERED_BYTES unread
 * for longer than SLOW_CLIENT_MS, or more than MAX_UNREAD_BYTES.
 */
const MAX_BUFFERED_BYTES = 4 << 20;
const SLOW_CLIENT_MS = 30_000;
const MAX_UNREAD_BYTES = 64 << 20;

export interface SseHubDeps {
  store: Store;
  clock: Clock;
}

const byWindowKey = (a: WindowResult, b: WindowResult): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.lengthMs - b.lengthMs || a.slideMs - b.slideMs || a.start - b.start;

const render = (kind: StreamKind, data: unknown): string => `event: ${kind}\ndata: ${JSON.stringify(data)}\n`;

function windowEvent(batch: number, w: WindowResult): StreamEvent {
  return lazyEvent('window', w.deviceId, () => ({ batch, ...windowItem(w) }));
}

function anomalyEvent(batch: number, a: Anomaly): StreamEvent {
  return lazyEvent('anomaly', a.deviceId, () => ({ batch, ...anomalyItem(a) }));
}

/** The store's replay order, so that memory and the store give a client the same sequence. */
const byAnomalyKey = (a: Anomaly, b: Anomaly): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : a.ts - b.ts;

function batchEvent(b: BatchRow): StreamEvent {
  return lazyEvent('batch', null, () => ({ ...b, committedAt: iso(b.committedAt), watermark: isoOrNull(b.watermark) }));
}

/**
 * Server-Sent Events of committed batches. Events are numbered by batch (`id:` is the batch number, which continues
 * across restarts), sent in a fixed order within a batch — windows by (deviceId, lengthMs, slideMs, start), then
 * anomalies, then the batch's figures — so that memory and the store replay the same sequence. A client's last event
 * of each batch carries the id: a stream cut inside a batch resumes at that batch's start.
 */
export function createSseHub(config: Pick<Config, 'http'>, deps: SseHubDeps): SseHub {
  const { store, clock } = deps;
  const memory: BatchEvents[] = [];
  let memoryEvents = 0;
  let lastPublished = -1; // nothing published by this process yet
  const subscribers = new Set<Subscriber>();
  /** Clients replaying what they missed, not live yet. */
  let resuming = 0;
  /** Batches up to this one keep coming with device windows after the last client left (-1: none has yet). */
  let keepUntil = -1;
  let closed = false;
  let heartbeat: unknown = null;

  const matches = (s: Subscriber, e: StreamEvent): boolean =>
    s.filter.kinds.has(e.kind) && (e.deviceId === null || s.filter.deviceIds === null || s.filter.deviceIds.has(e.deviceId));

  /** Writes one batch's events matching the subscriber; the last carries the batch number as id. */
  function send(s: Subscriber, b: BatchEvents): void {
    s.lastBatch = b.batch;
    let chunk = '';
    let last = -1;
    for (let i = 0; i < b.events.length; i++) if (matches(s, b.events[i])) last = i;
    for (let i = 0; i <= last; i++) {
      const e = b.events[i];
      if (!matches(s, e)) continue;
      chunk += i === last ? `id: ${b.batch}\n${e.text}\n` : `${e.text}\n`;
    }
    if (chunk !== '') write(s, chunk);
  }

  /**
   * A client that does not read is disconnected: more than MAX_BUFFERED_BYTES unread for SLOW_CLIENT_MS, or more
   * than MAX_UNREAD_BYTES at all. A batch's events are written whole, however large, and a client that reads them
   * slowly (thousands of windows in one batch) has the time to.
   */
  function write(s: Subscriber, chunk: string): void {
    if (s.res.destroyed) return;
    const unread = s.res.writableLength;
    if (unread <= MAX_BUFFERED_BYTES) s.unreadSince = null;
    else if (unread > MAX_UNREAD_BYTES || clock.now() - (s.unreadSince ??= clock.now()) > SLOW_CLIENT_MS) return void s.res.destroy();
    s.res.write(chunk);
  }

  function remember(b: BatchEvents): void {
    memory.push(b);
    memoryEvents += b.size;
    // A batch of more events than the bound is not kept (a client resuming before it reads the store).
    while (memory.length > MEMORY_BATCHES || memoryEvents > MEMORY_EVENTS) {
      memoryEvents -= memory.shift()!.size;
    }
  }

  /**
   * Batches after `after` from the store: the windows they last wrote (by updated_at), the anomalies they last
   * wrote, then their figures. Only the filter's devices are read: what they missed, not the fleet, decides whether
   * it is too much to replay.
   */
  async function fromStore(after: number, { kinds, deviceIds }: StreamFilter): Promise<{ batches: BatchEvents[]; truncated: boolean }> {
    const rows = await store.batchesAfter(after, REPLAY_MAX_BATCHES);
    if (rows.length === 0) return { batches: [], truncated: false };
    const since = ((await store.batchCommittedAt(after)) ?? rows[0].committedAt - 1) + 1;
    const devices = deviceIds === null ? undefined : [...deviceIds];
    const [windows, anomalies] = await Promise.all([
      kinds.has('window') ? store.windowsUpdatedSince(since, REPLAY_MAX_WINDOWS, devices) : [],
      kinds.has('anomaly') ? store.anomaliesUpdatedSince(since, REPLAY_MAX_WINDOWS + 1, devices) : [],
    ]);
    if (windows === null || anomalies.length > REPLAY_MAX_WINDOWS || rows.length === REPLAY_MAX_BATCHES) return { batches: [], truncated: true };
    // A window belongs to the last batch committed at its updated_at (it may have been rewritten since it was sent).
    const batchAt = new Map<number, number>();
    for (const r of rows) batchAt.set(r.committedAt, r.batch);
    const byBatch = new Map<number, StreamEvent[]>();
    const add = (updatedAt: number, event: (batch: number) => StreamEvent): void => {
      const batch = batchAt.get(updatedAt);
      if (batch === undefined) return;
      let events = byBatch.get(batch);
      if (events === undefined) byBatch.set(batch, (events = []));
      events.push(event(batch));
    };
    for (const w of windows) add(w.updatedAt, (batch) => windowEvent(batch, w));
    for (const a of anomalies) add(a.updatedAt, (batch) => anomalyEvent(batch, a));
    const batches = rows.map((r) => {
      const events = [...(byBatch.get(r.batch) ?? []), batchEvent(r)];
      return { batch: r.batch, size: events.length, events };
    });
    return { batches, truncated: false };
  }

  /**
   * Sends what came after batch `after`: from memory if it still holds the next batch, else from the store; then
   * makes the client live (in the same turn as its last replayed batch, so no batch falls between).
   */
  async function resume(s: Subscriber, after: number): Promise<void> {
    resuming++;
    try {
      await replay(s, after);
    } finally {
      resuming--;
    }
  }

  /** Whether memory holds every batch published after `after`. */
  const inMemory = (after: number): boolean => memory.length > 0 && memory[0].batch <= after + 1 && after <= lastPublished;

  async function replay(s: Subscriber, after: number, attempt = 0): Promise<void> {
    const live = (): void => {
      if (!s.gone && !closed) subscribers.add(s);
    };
    if (inMemory(after)) {
      s.lastBatch = after;
      for (const b of memory) if (b.batch > after) send(s, b);
      return live();
    }
    const [known, { batches, truncated }] = await Promise.all([store.batchCommittedAt(after).then((at) => at !== null), fromStore(after, s.filter)]);
    if (!known && batches.length === 0 && !truncated) {
      s.lastBatch = lastPublished; // an id this store never had (another data directory): live from now
      return live();
    }
    if (truncated) {
      const reset = { reason: 'too much was missed to replay: reload with the query routes', after };
      // With the id of the last batch published, so that a client cut off again resumes from there, not from `after`.
      write(s, `${lastPublished >= 0 ? `id: ${lastPublished}\n` : ''}event: reset\ndata: ${JSON.stringify(reset)}\n\n`);
      s.lastBatch = lastPublished;
      return live();
    }
    s.lastBatch = after;
    for (const b of batches) send(s, b);
    // Batches published while the store was read: from memory, or from the store again if one is not there (it
    // came without device windows).
    if (s.lastBatch < lastPublished && !inMemory(s.lastBatch) && attempt < 3) return replay(s, s.lastBatch, attempt + 1);
    for (const b of memory) if (b.batch > s.lastBatch) send(s, b);
    live();
  }

  function scheduleHeartbeat(): void {
    heartbeat = clock.setTimeout(() => {
      const line = `: heartbeat ${iso(clock.now())}\n\n`;
      for (const s of subscribers) write(s, line);
      if (!closed) scheduleHeartbeat();
    }, config.http.sseHeartbeatMs);
    (heartbeat as { unref?: () => void }).unref?.();
  }
  scheduleHeartbeat();

  /**
   * Fleet windows are partials per instance: with a shared store (PostgreSQL) the batch's fleet windows are replaced
   * by their merge over every instance before they are sent, batches staying in order. With SQLite this instance is
   * the only writer, and its own fleet windows are the merge.
   */
  let merging: Promise<void> = Promise.resolve();
  let pendingMerges = 0;
  function publish(committed: CommittedBatch): void {
    const { fleet } = committed.windows;
    if (store.kind === 'sqlite' || (fleet.length === 0 && pendingMerges === 0)) return deliver(committed, fleet);
    pendingMerges++;
    merging = merging.then(async () => {
      let merged = fleet;
      if (fleet.length > 0) {
        try {
          merged = await store.fleetWindows(fleet);
        } catch (err) {
          console.error(`thermostream: stream: fleet windows of batch ${committed.info.batch} not merged: ${(err as Error).message}`);
        }
      }
      pendingMerges--;
      deliver(committed, merged);
    });
  }

  /** Device windows become objects only when a subscriber is sent the batch. */
  function deliver(committed: CommittedBatch, fleet: readonly WindowResult[]): void {
    if (closed) return;
    const batch = committed.info.batch;
    const { anomalies, info } = committed;
    const figures: BatchRow = {
      batch,
      committedAt: committed.committedAt,
      records: info.records,
      late: info.late,
      duplicates: info.duplicates,
      rejected: info.rejected,
      windowsUpdated: info.windowsUpdated,
      watermark: Number.isFinite(info.watermark) ? info.watermark : null,
      logOffset: info.logOffset,
    };
    if (!committed.deviceWindows) {
      // Its device windows stayed in the batch thread (no client was there when it ran): memory starts again after
      // it, and a client that subscribed since reads it from the store, as one resuming would.
      lastPublished = batch;
      memory.length = 0;
      memoryEvents = 0;
      for (const s of subscribers) {
        if (batch <= s.lastBatch) continue;
        subscribers.delete(s);
        catchUp(s, s.lastBatch);
      }
      return;
    }
    const devices = committed.windows.deviceIds.length;
    const b = lazyBatch(batch, devices + fleet.length + anomalies.length + 1, () => {
      const windows = [...unpackDeviceWindows(committed.windows), ...fleet];
      const events = windows.sort(byWindowKey).map((w) => windowEvent(batch, w));
      for (const a of [...anomalies].sort(byAnomalyKey)) events.push(anomalyEvent(batch, a));
      events.push(batchEvent(figures));
      return events;
    });
    lastPublished = batch;
    remember(b);
    for (const s of subscribers) if (batch > s.lastBatch) send(s, b);
  }

  /** Makes `s` live after sending it what came after batch `after`. */
  function catchUp(s: Subscriber, after: number): void {
    resume(s, after).catch((err: Error) => {
      // The store cannot replay (PostgreSQL unreachable): the client reconnects with its Last-Event-ID later.
      console.error(`thermostream: stream: cannot replay after batch ${after}: ${err.message}`);
      s.res.end();
    });
  }

  return {
    publish,
    wantsDeviceWindows: () => subscribers.size > 0 || resuming > 0 || lastPublished < keepUntil,

    subscribe(res, filter, lastEventId) {
      const s: Subscriber = { res, filter, lastBatch: lastPublished };
      const gone = (): void => {
        s.gone = true;
        subscribers.delete(s);
        if (subscribers.size === 0) keepUntil = lastPublished + MEMORY_BATCHES;
      };
      if (lastEventId === null) {
        subscribers.add(s);
        return gone;
      }
      catchUp(s, lastEventId);
      return gone;
    },

    get clients() {
      return subscribers.size;
    },

    async close() {
      closed = true;
      if (heartbeat !== null) clock.clearTimeout(heartbeat);
      for (const s of subscribers) s.res.end();
      subscribers.clear();
    },
  };
}
