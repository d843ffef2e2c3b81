// The dashboard's only door to the server: HTTP routes, their shapes, which of them this server has, and the live
// feed (SSE or polling). When the API grows (the SSE stream, /api/v1/readings, /api/v1/devices/:id, anomalies, twins),
// this file is where the dashboard learns about it.
import { connection } from './connection.ts';
import { openStream } from './stream.ts';

export interface WindowSpec {
  lengthMs: number;
  slideMs: number;
}

export interface Device {
  deviceId: string;
  firstSeen: string;
  lastSeen: string;
  readings: number;
  lastTemperature: number;
  online: boolean;
  /** Its messages rejected into the dead-letter table (GET /api/v1/devices/:id only). */
  rejected?: { total: number; byReason: Record<string, number> };
}

/** A device's rejected messages, counted (GET /api/v1/dead-letters/devices). */
export interface Rejections {
  deviceId: string;
  total: number;
  byReason: Record<string, number>;
}

/** A rejected message (GET /api/v1/dead-letters). */
export interface DeadLetter {
  receivedAt: string;
  deviceId: string | null;
  reason: string;
  detail: string;
}

export interface WindowRow extends WindowSpec {
  deviceId: string;
  start: string;
  end: string;
  count: number;
  /** null in a window without readings: it holds only an anomaly (a dropout). */
  avg: number | null;
  min: number | null;
  max: number | null;
  anomalies: number | Record<string, number>;
  final: boolean;
}

export interface BatchInfo {
  batch?: number;
  batchTime: string;
  records: number;
  late: number;
  duplicates: number;
  rejected: number;
  schedulingDelayMs: number;
  processingMs: number;
  totalDelayMs: number;
  watermark: string | null;
}

export interface Stats {
  batchIntervalMs: number;
  windows?: WindowSpec[];
  batches: number;
  records: number;
  inputRate: number;
  lastBatch: BatchInfo | null;
  watermark: string | null;
  backlog: number;
  heldAcks: number;
  accepted: number;
  late: number;
  duplicates: number;
  rejected: { total: number; byReason: Record<string, number> };
}

/** One flagged reading or interval (6/9): interval anomalies (stuck, drift, dropout) have start and end. */
export interface Anomaly {
  deviceId: string;
  type: string;
  score: number | null;
  ts: string;
  value: number | null;
  expected: number | null;
  threshold: number | null;
  start?: string | null;
  end?: string | null;
}

/** A raw reading (`source: "raw"`) or, further back, the finest window's aggregate (7/9's /api/v1/readings). */
export interface ReadingPoint {
  ts: string;
  temperature: number;
  min?: number;
  max?: number;
  source?: 'raw' | 'window';
}

export type Props = Record<string, unknown>;
export interface Twin {
  desired: Props;
  reported: Props;
}

export interface Job {
  id: number | string;
  name: string | null;
  state: string;
}

/** What this server offers beyond today's routes; learned once from `GET /api/v1`. */
export interface Features {
  stream: boolean;
  device: boolean;
  anomalies: boolean;
  readings: boolean;
  twin: boolean;
  jobs: boolean;
  deadLetters: boolean;
  /** Rejected messages counted by device: the overview lists devices whose every message was rejected. */
  rejections: boolean;
}

const NONE: Features = { stream: false, device: false, anomalies: false, readings: false, twin: false, jobs: false, deadLetters: false, rejections: false };
let cached: Features | null = null;

/** `GET /api/v1` (the route index), else the OpenAPI document's paths (`/docs/json`, `{id}` → `:id`). */
async function routeList(): Promise<{ method: string; url: string }[]> {
  try {
    return (await getJson<{ routes: { method: string; url: string }[] }>('/api/v1')).routes;
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const doc = await getJson<{ paths: Record<string, Record<string, unknown>> }>('/docs/json');
    return Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => ({ method: m.toUpperCase(), url: path.replace(/\{(\w+)\}/g, ':$1') })),
    );
  }
}

/** The features once discover() has run (main runs it before any view), else today's routes only. */
export function features(): Features {
  return cached ?? NONE;
}

export async function discover(): Promise<Features> {
  if (cached !== null) return cached;
  try {
    const routes = await routeList();
    const has = (method: string, url: string): boolean => routes.some((r) => r.method === method && r.url === url);
    cached = {
      stream: has('GET', '/api/v1/stream'),
      device: has('GET', '/api/v1/devices/:id'),
      anomalies: has('GET', '/api/v1/anomalies'),
      readings: has('GET', '/api/v1/readings'),
      twin: has('GET', '/api/v1/registry/devices/:id/twin') && has('PATCH', '/api/v1/registry/devices/:id/twin'),
      jobs: has('GET', '/livy/batches'),
      deadLetters: has('GET', '/api/v1/dead-letters'),
      rejections: has('GET', '/api/v1/dead-letters/devices'),
    };
  } catch {
    cached = { ...NONE }; // a server without the route index: today's routes only, no probing
  }
  return cached;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** GET and parse JSON; network failures mark the connection down, answers (even errors) mark it up. */
export async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: { accept: 'application/json', ...init.headers } });
  } catch (err) {
    connection.failed();
    throw err;
  }
  connection.answered();
  const body = (await res.json().catch(() => null)) as T & { message?: string };
  if (!res.ok) throw new HttpError(res.status, path, body?.message ?? `HTTP ${res.status}`);
  return body;
}

const TOKEN_KEY = 'thermostream.apiToken';

/**
 * The server's `http.apiToken`, for write routes, as the user typed it into the page: kept in sessionStorage (this
 * tab only, gone when it closes), never in the URL or localStorage.
 */
export const apiToken = {
  get(): string | null {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null; // storage disabled
    }
  },
  set(token: string | null): void {
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // storage disabled: the token cannot be kept
    }
  },
};

const qs = (params: Record<string, string | number | undefined>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** A paged list, following `next` for at most `pages` pages; `complete` is false when it was cut off there. */
async function followPages<T>(path: string, params: Record<string, string | number | undefined>, pages: number): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < pages; i++) {
    const body = await getJson<{ items: T[]; next?: string | null }>(`${path}${qs({ ...params, cursor })}`);
    items.push(...body.items);
    if (!body.next) return { items, complete: true };
    cursor = body.next;
  }
  return { items, complete: false };
}

export const api = {
  stats: () => getJson<Stats>('/api/v1/stats'),
  /** Every device, following `next` (up to 50 pages); `complete` is false when the list was cut off there. */
  async devices(): Promise<Device[] & { complete: boolean }> {
    const { items, complete } = await followPages<Device>('/api/v1/devices', {}, 50);
    return Object.assign(items, { complete });
  },
  /** One device with its newest window of each configured shape (7/9's GET /api/v1/devices/:id). */
  device: (id: string) => getJson<Device & { windows?: WindowRow[] }>(`/api/v1/devices/${encodeURIComponent(id)}`),
  /** No deviceId (or '*') = fleet-wide windows. Ascending by start; `from` bounds the start. */
  windows: (q: { deviceId?: string; spec: WindowSpec; from?: number; limit: number }) =>
    getJson<{ items: WindowRow[] }>(
      `/api/v1/windows${qs({ deviceId: q.deviceId, length: q.spec.lengthMs, slide: q.spec.slideMs, from: q.from, limit: q.limit })}`,
    ).then((b) => b.items),
  /** Newest first, following `next` up to `pages` pages; `more`: there were more than those pages hold. */
  async anomalies(q: { deviceId?: string; from?: number; to?: number; limit?: number }, pages = 5): Promise<{ items: Anomaly[]; more: boolean }> {
    const { items, complete } = await followPages<Anomaly>('/api/v1/anomalies', { deviceId: q.deviceId, from: q.from, to: q.to, limit: q.limit ?? 1000 }, pages);
    return { items, more: !complete };
  },
  /** Every device with rejected messages, with their counts by reason, following `next` (up to 50 pages). */
  async rejections(): Promise<Rejections[] & { complete: boolean }> {
    const { items, complete } = await followPages<Rejections>('/api/v1/dead-letters/devices', {}, 50);
    return Object.assign(items, { complete });
  },
  /** A device's rejected messages, newest first: one page, and whether there are more. */
  deadLetters: (q: { deviceId: string; limit: number }) => getJson<{ items: DeadLetter[]; next?: string | null }>(`/api/v1/dead-letters${qs(q)}`),
  readings: (q: { deviceId: string; from: number; to: number; maxPoints: number }) =>
    getJson<{ items: ReadingPoint[] }>(`/api/v1/readings${qs(q)}`).then((b) => b.items),
  /**
   * Whether the registry holds the device (it has a twin), read from the registry's list, which is sorted by id: a
   * device that only sends readings (no identity, auth mode none) would answer its twin route with a 404, which the
   * browser reports as an error. Up to 10 pages of 1,000.
   */
  async registered(deviceId: string): Promise<boolean> {
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const body = await getJson<{ items: { deviceId: string }[]; next?: string | null }>(`/api/v1/registry/devices${qs({ limit: 1000, cursor })}`);
      if (body.items.some((d) => d.deviceId === deviceId)) return true;
      const last = body.items.at(-1)?.deviceId;
      if (!body.next || last === undefined || last > deviceId) return false;
      cursor = body.next;
    }
    return false;
  },
  /** IoT Hub's twin shape ({ properties: { desired, reported } }) or the flat one. */
  async twin(deviceId: string): Promise<Twin> {
    const body = await getJson<Partial<Twin> & { properties?: Partial<Twin> }>(`/api/v1/registry/devices/${encodeURIComponent(deviceId)}/twin`);
    const p = body.properties ?? body;
    return { desired: p.desired ?? {}, reported: p.reported ?? {} };
  },
  /** A write route: sends the API token the user gave (apiToken()) as a Bearer token; 401 when it is missing or wrong. */
  async setDesired(deviceId: string, desired: Props): Promise<Twin> {
    const token = apiToken.get();
    await getJson(`/api/v1/registry/devices/${encodeURIComponent(deviceId)}/twin`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ properties: { desired } }),
    });
    return api.twin(deviceId);
  },
  jobs: () => getJson<{ sessions: Job[] }>('/livy/batches?size=50').then((b) => b.sessions),
};

/** What the live feed tells the page. */
export interface LiveHandlers {
  /** /api/v1/stats, every second. */
  stats(s: Stats): void;
  /** A batch not seen before in /api/v1/stats: its figures (processing time, delays) for the engine's history. */
  sample(b: BatchInfo): void;
  /** New results are committed: a `batch` event of the stream, or, when polling, a new batch in stats. */
  committed(): void;
  /** The stream's `reset`: it missed too much to replay, so what the page shows must be read again from the query routes. */
  reset(): void;
  anomaly(a: StreamAnomaly): void;
}

/** An anomaly event of the stream: fewer fields than the anomalies route has. */
export type StreamAnomaly = Pick<Anomaly, 'deviceId' | 'type' | 'ts' | 'score'>;

/**
 * The live feed. With `GET /api/v1/stream` (Server-Sent Events numbered by batch: `window`, `anomaly`, `batch`,
 * `reset`), an EventSource that resumes with `Last-Event-ID` tells the views when to redraw; without it, or when
 * the route answers anything but an event stream, new batches seen in /api/v1/stats do. /api/v1/stats is polled
 * every second in both cases: it carries what batch events do not (processing time, delays, backlog, rejected by
 * reason), and the connection badge follows its answers.
 */
export async function startLive(h: LiveHandlers): Promise<void> {
  const f = await discover();
  let lastBatches = -1;
  let streaming = false;
  const poll = async (): Promise<void> => {
    try {
      const s = await api.stats();
      h.stats(s);
      if (s.lastBatch && s.batches !== lastBatches) {
        h.sample(s.lastBatch);
        if (!streaming) h.committed();
      }
      lastBatches = s.batches;
    } catch {
      // connection.failed() was called: the badge says so; the next poll retries
    }
  };
  const tick = (): void => {
    void poll().finally(() => setTimeout(tick, connection.down ? 2000 : 1000));
  };
  tick();
  if (!f.stream) return;
  openStream('/api/v1/stream?kind=batch,anomaly', {
    open: () => {
      streaming = true;
    },
    lost: () => {
      streaming = false; // polling drives the views while the stream reconnects
    },
    event(kind, data) {
      if (kind === 'batch') h.committed();
      else if (kind === 'reset') h.reset();
      else if (kind === 'anomaly') h.anomaly(data as StreamAnomaly);
    },
    unavailable: () => {
      streaming = false; // polling carries on alone
    },
  });
}
