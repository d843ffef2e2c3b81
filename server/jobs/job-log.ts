/**
 * A job's log: the last `maxLines` lines of what it wrote (print() output, console, errors) and of what the runner
 * says about it. Lines are numbered from 0 over the job's life (the Livy route renumbers the kept ones from 0); older lines are
 * dropped, so memory stays bounded however much a job prints.
 */
export const MAX_LINE_CHARS = 4096;

export class JobLog {
  private lines: string[] = [];
  /** Number of the first line kept. */
  private first = 0;
  private readonly partial = { stdout: '', stderr: '' };

  constructor(private readonly maxLines: number) {}

  /** Lines written so far (kept or dropped). */
  get total(): number {
    return this.first + this.lines.length;
  }

  /** Text from the job's stdout or stderr: complete lines are kept, a partial one waits for its end. */
  write(stream: 'stdout' | 'stderr', text: string): void {
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop()!.slice(0, MAX_LINE_CHARS);
    for (const line of parts) this.add(line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  /** Ends partial lines (the job exited). */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.add(this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  add(line: string): void {
    this.lines.push(line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line);
    if (this.lines.length > this.maxLines * 2) this.trim();
  }

  /**
   * Livy's log window: `size` lines from line `from`; without `from`, the last `size` lines. `from` is moved up to
   * the first line still kept.
   */
  slice(from: number | undefined, size: number): { from: number; first: number; lines: string[] } {
    this.trim();
    const total = this.total;
    let start = from ?? Math.max(0, total - size);
    start = Math.max(start, this.first);
    const lines = this.lines.slice(start - this.first, start - this.first + size);
    return { from: Math.min(start, total), first: this.first, lines };
  }

  /** Drops lines beyond `maxLines` (in bulk, so adding a line stays O(1) amortised). */
  private trim(): void {
    const extra = this.lines.length - this.maxLines;
    if (extra <= 0) return;
    this.lines = this.lines.slice(extra);
    this.first += extra;
  }
}
