// The connection state the header badge shows: live (stream), live (polling), or disconnected and reconnecting.

export type LinkState = 'connecting' | 'stream' | 'polling' | 'reconnecting';

type Listener = (state: LinkState) => void;

class Connection {
  state: LinkState = 'connecting';
  /** When the server stopped answering (epoch ms), while it is away; null while it answers. */
  downSince: number | null = null;
  private streamOpen = false;
  private listeners: Listener[] = [];

  get down(): boolean {
    return this.state === 'reconnecting';
  }

  on(fn: Listener): void {
    this.listeners.push(fn);
    fn(this.state);
  }

  /** An HTTP answer came back (any status): the server is there. */
  answered(): void {
    this.set(this.streamOpen ? 'stream' : 'polling');
  }

  /** A request could not reach the server. */
  failed(): void {
    this.streamOpen = false;
    this.set('reconnecting');
  }

  stream(open: boolean): void {
    this.streamOpen = open;
    this.set(open ? 'stream' : 'reconnecting');
  }

  private set(state: LinkState): void {
    if (state === this.state) return;
    this.state = state;
    this.downSince = state === 'reconnecting' ? Date.now() : null;
    for (const fn of this.listeners) fn(state);
  }
}

export const connection = new Connection();
