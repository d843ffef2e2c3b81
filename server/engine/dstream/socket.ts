/**
 * socketTextStream's receiver: connects to host:port over TCP and stores each line (split on \n, a trailing \r
 * removed; a last unterminated line is stored when the peer ends the connection, as Java's readLine does). When the
 * connection is refused or drops, it reconnects after a backoff that doubles from `minBackoffMs` up to
 * `maxBackoffMs` and resets once connected. Timers come from the context's clock.
 */
import net from 'node:net';
import type { Receiver, ReceiverSink } from './input.ts';

const KEEPALIVE_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface SocketTextOptions {
  /** First reconnect delay (ms). Default 100. */
  minBackoffMs?: number;
  /** Longest reconnect delay (ms). Default 5000. */
  maxBackoffMs?: number;
}

export class SocketTextReceiver implements Receiver<string> {
  private sink: ReceiverSink<string> | undefined;
  private socket: net.Socket | undefined;
  private timer: unknown;
  private stopped = false;
  private backoffMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  /** Logged once per outage rather than at every retry. */
  private failing = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    options: SocketTextOptions = {},
  ) {
    this.minBackoffMs = options.minBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.backoffMs = this.minBackoffMs;
  }

  onStart(sink: ReceiverSink<string>): void {
    this.sink = sink;
    this.connect();
  }

  private connect(): void {
    const sink = this.sink;
    if (this.stopped || !sink) return;
    const socket = net.connect({ host: this.host, port: this.port });
    this.socket = socket;
    socket.setEncoding('utf8');
    // A peer that vanishes without a FIN (a pulled cable) is noticed by keepalive probes; a connect that hangs
    // (a dropped SYN) by the timeout. Either way the socket closes and the receiver reconnects.
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`)));
    let partial = '';
    socket.on('connect', () => {
      socket.setTimeout(0);
      this.backoffMs = this.minBackoffMs;
      if (this.failing) sink.log(`socketTextStream: connected to ${this.host}:${this.port}`);
      this.failing = false;
    });
    socket.on('data', (chunk: string) => {
      // Only the new chunk is searched for line ends, so a long line arriving in many chunks costs linear time.
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
        const line = partial + chunk.slice(start, nl);
        partial = '';
        sink.store(line.endsWith('\r') ? line.slice(0, -1) : line);
        start = nl + 1;
      }
      partial += chunk.slice(start);
    });
    socket.on('end', () => {
      if (partial.length > 0) sink.store(partial.endsWith('\r') ? partial.slice(0, -1) : partial);
      partial = '';
    });
    socket.on('error', (err) => {
      if (!this.failing && !this.stopped) sink.log(`socketTextStream: ${this.host}:${this.port}: ${err.message}; reconnecting`);
      this.failing = true;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (this.stopped) return;
      const delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
      this.timer = sink.clock.setTimeout(() => {
        this.timer = undefined;
        this.connect();
      }, delay);
    });
  }

  async onStop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined && this.sink) this.sink.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
  }
}
