/**
 * The server process's stop signals (SIGINT, SIGTERM), taken from its first moment. Loading the server's modules
 * takes about 2 s and its start (data dir, log replay, ports) more; a signal meanwhile must stop it as a later one
 * does (exit 0), not end it by the default action (exit 130) with what the start had opened left as it was.
 * Only node: built-ins here, so that server/start.ts can install it before the server's modules load.
 */
/**
 * A stop signal that comes again within this time of the first is the same stop delivered twice, not a second press:
 * Ctrl-C in a terminal signals the whole foreground process group, so a program run by `npm start` gets SIGINT from
 * the terminal and again from npm, which forwards it; systemd signals every process of a unit, npm included.
 */
export const ECHO_MS = 1000;

/** What a stop signal is: the first, the first one delivered twice (an echo: ignore it), or a later one (stop now). */
export class SignalRepeats {
  private first: { signal: string; at: number } | null = null;

  classify(signal: string, now = performance.now()): 'first' | 'echo' | 'again' {
    if (this.first === null) {
      this.first = { signal, at: now };
      return 'first';
    }
    return this.first.signal === signal && now - this.first.at < ECHO_MS ? 'echo' : 'again';
  }
}

export class StopSignals {
  private readonly abort = new AbortController();
  private stopping: string | null = null;
  private readonly repeats = new SignalRepeats();
  private starting: Promise<unknown> = Promise.resolve();
  private readonly stops: (() => Promise<void>)[] = [];
  private handedTo: ((signal: string) => void) | null = null;
  private readonly onSigint = () => void this.stop('SIGINT');
  private readonly onSigterm = () => void this.stop('SIGTERM');

  constructor() {
    process.on('SIGINT', this.onSigint);
    process.on('SIGTERM', this.onSigterm);
  }

  /** Aborted at the first signal: a start in progress gives up at its next stage, closing what it opened. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** A start in progress: a signal waits for it to end (given up, or done and then stopped) before exiting. */
  whileStarting(start: Promise<unknown>): void {
    this.starting = start;
  }

  /** Runs at the stop, before the ones added earlier (the reverse of the start). */
  onStop(stop: () => Promise<void>): void {
    this.stops.unshift(stop);
  }

  /**
   * Hands the signals to another handler (the --instances supervisor), and stop() too: a stop that does not come by
   * a signal (the output's reader gone: server/output-closed.ts) must reach what is running then, the supervisor's
   * instances, not end the process without them.
   */
  release(stop: (signal: string) => void): void {
    process.off('SIGINT', this.onSigint);
    process.off('SIGTERM', this.onSigterm);
    this.handedTo = stop;
  }

  async stop(signal: string): Promise<void> {
    if (this.handedTo !== null) return this.handedTo(signal);
    const seen = this.repeats.classify(signal);
    if (seen === 'echo') return; // the terminal's Ctrl-C and npm's forward of it
    if (seen === 'again' && this.stopping === signal) {
      // The same signal again while shutting down (Ctrl-C twice): stop now. Nothing acknowledged is lost (the log
      // has it); the batch in progress is simply done again after the restart.
      console.error(`thermostream: ${signal} again, exiting without finishing the shutdown`);
      process.exit(1);
    }
    // Another one (Ctrl-C reaches an --instances child from the terminal and from the supervisor): already on it.
    if (this.stopping !== null) return;
    this.stopping = signal;
    console.log(`thermostream: ${signal}, shutting down`);
    this.abort.abort(new Error(`${signal} during start-up`));
    await this.starting.catch(() => {}); // its refusal, if any, is said where it was started
    for (const stop of this.stops) await stop();
    process.exit(0);
  }
}
