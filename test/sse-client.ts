import { request, type ClientRequest, type IncomingMessage } from 'node:http';

export interface SseEvent {
  /** The event's own id field, or null (the client's last event id then stays as it was). */
  id: string | null;
  event: string;
  data: any;
}

/** A minimal EventSource over node:http (text/event-stream parsing per the HTML spec, enough for these tests). */
export class SseClient {
  readonly events: SseEvent[] = [];
  heartbeats = 0;
  /** The last event id seen, as EventSource keeps it for Last-Event-ID. */
  lastId: string | null = null;
  status = 0;
  ended = false;
  private req: ClientRequest | null = null;
  private buffer = '';

  constructor(
    readonly url: string,
    readonly headers: Record<string, string> = {},
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(this.url, { headers: { accept: 'text/event-stream', ...this.headers }, agent: false }, (res: IncomingMessage) => {
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk));
        res.on('end', () => (this.ended = true));
        res.on('error', () => (this.ended = true));
        resolve();
      });
      req.on('error', (err) => (this.status === 0 ? reject(err) : (this.ended = true)));
      req.end();
      this.req = req;
    });
  }

  close(): void {
    this.req?.destroy();
    this.ended = true;
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    // One pass over the buffer, cut once at the end: a batch of thousands of events in one chunk stays linear.
    let at = 0;
    let end: number;
    for (; (end = this.buffer.indexOf('\n\n', at)) >= 0; at = end + 2) {
      const block = this.buffer.slice(at, end);
      let id: string | null = null;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          if (line.startsWith(': heartbeat')) this.heartbeats++;
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (id !== null) this.lastId = id;
      if (data.length === 0) continue; // a comment (heartbeat) or the retry field
      this.events.push({ id, event, data: JSON.parse(data.join('\n')) });
    }
    this.buffer = this.buffer.slice(at);
  }
}
