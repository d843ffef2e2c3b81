import { HttpError, type Stats, type StreamAnomaly } from './api.ts';
import { connection } from './connection.ts';

/** A page of the dashboard: built into its container, told about live events, destroyed on navigation. */
export interface View {
  /** New results are committed: time to fetch and redraw. */
  onBatch?(): void;
  /** A batch's figures were added to the engine history (state.samples). */
  onSample?(): void;
  onStats?(s: Stats): void;
  onAnomaly?(a: StreamAnomaly): void;
  /** The live feed missed results it cannot replay (the stream's `reset`): read everything again, as on first load. */
  reload(): void;
  destroy(): void;
}

/** Runs `fn` at most once per `ms`, never two at a time; the last call in a busy period runs afterwards. */
export function throttle(fn: () => Promise<void>, ms: number): { (): void; cancel(): void } {
  let running = false;
  let pending = false;
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let cancelled = false;
  const run = (): void => {
    if (cancelled) return;
    if (running) {
      pending = true;
      return;
    }
    const wait = last + ms - Date.now();
    if (wait > 0) {
      pending = true;
      if (timer === undefined) timer = setTimeout(() => { timer = undefined; if (pending) { pending = false; run(); } }, wait);
      return;
    }
    running = true;
    last = Date.now();
    fn()
      .catch((err: unknown) => {
        // A server that cannot be reached or answers with an error: getJson has marked the connection (the browser
        // shows the failed request) and the next call retries. Anything else is a bug in the page: say so.
        if (!(err instanceof HttpError) && !connection.down) console.error('dashboard: a view failed to draw', err);
      })
      .finally(() => {
        running = false;
        if (pending) {
          pending = false;
          run();
        }
      });
  };
  const throttled = run as { (): void; cancel(): void };
  throttled.cancel = () => {
    cancelled = true;
    clearTimeout(timer);
  };
  return throttled;
}
