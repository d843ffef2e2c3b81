// Server-Sent Events with resume: the browser's EventSource reconnects by itself and sends `Last-Event-ID`; when it
// gives up (the server answered with an error while restarting), a new EventSource is opened after a backoff with
// the last id as `lastEventId` in the query, since a new EventSource cannot set the header. If the route answers
// anything but an event stream before it ever opened (404: a server without 7/9), the caller falls back to polling.
import { connection } from './connection.ts';

export interface StreamHandlers {
  open(): void;
  lost(): void;
  event(kind: string, data: unknown): void;
  unavailable(): void;
}

// `reset`: the server could not replay what a resuming client missed (README, "Live stream"); it carries no id.
const KINDS = ['batch', 'window', 'anomaly', 'reset'];
const MAX_BACKOFF_MS = 10_000;

export function openStream(url: string, h: StreamHandlers): { close(): void } {
  let es: EventSource | null = null;
  let lastId = '';
  let everOpened = false;
  let backoff = 500;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const connect = (): void => {
    const sep = url.includes('?') ? '&' : '?';
    const source = new EventSource(lastId ? `${url}${sep}lastEventId=${encodeURIComponent(lastId)}` : url);
    es = source;
    source.onopen = () => {
      everOpened = true;
      backoff = 500;
      connection.stream(true);
      h.open();
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (ev) => {
        const m = ev as MessageEvent<string>;
        if (m.lastEventId) lastId = m.lastEventId;
        try {
          h.event(kind, JSON.parse(m.data));
        } catch {
          // a malformed event is skipped; the next batch brings fresh figures
        }
      });
    }
    source.onerror = () => {
      connection.stream(false);
      h.lost();
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries, with Last-Event-ID
      source.close();
      if (!everOpened) void probe();
      else retry();
    };
  };

  const retry = (): void => {
    if (closed) return;
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  };

  // Never opened: is the route there at all? Read the status, then drop the body.
  const probe = async (): Promise<void> => {
    const ctl = new AbortController();
    try {
      const res = await fetch(url, { signal: ctl.signal, headers: { accept: 'text/event-stream' } });
      ctl.abort();
      connection.answered();
      if (res.ok && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) retry();
      else h.unavailable();
    } catch {
      connection.failed();
      retry();
    }
  };

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      es?.close();
    },
  };
}
