import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BEHIND_AFTER, BEHIND_REPEAT_MS, PaceWatch } from '../server/engine/pace.ts';

const INTERVAL = 1000;
/** A batch whose work took `ms` (a quarter of it the job). */
const batch = (n: number, ms: number, waiting = 0) => ({ batch: n, records: 10_000, jobMs: ms / 4, commitMs: (ms * 3) / 4, processingMs: ms - 50, waiting });

test('pace: behind after BEHIND_AFTER slow batches in a row, said again at most once a minute, then caught up once', () => {
  const pace = new PaceWatch(INTERVAL);
  let now = 0;
  const lines: (string | null)[] = [];
  const step = (ms: number, waiting = 0): void => {
    now += INTERVAL;
    lines.push(pace.batch(batch(lines.length + 1, ms, waiting), now));
  };
  // Two slow batches and a quick one: a hiccup, not behind.
  step(1600);
  step(1600);
  step(900);
  assert.deepEqual(lines, [null, null, null]);
  for (let i = 0; i < BEHIND_AFTER; i++) step(1600, 25_000);
  assert.equal(lines.slice(3, 3 + BEHIND_AFTER - 1).every((l) => l === null), true);
  assert.equal(
    lines.at(-1),
    'behind its input: batch 6 took 1,600 ms (job 400 ms, commit 1,200 ms) for 10,000 readings, more than the 1,000 ms batch ' +
      'interval, 3 batches in a row; 25,000 readings wait in the ingest log. Nothing accepted is lost (the log is durable; past ' +
      'ingest.maxBacklog acknowledgements are held back), but results come later. For large fleets see docs/SCALING.md ' +
      '(openWindowRefresh "final", fewer window shapes, instances)',
  );
  // Still behind: quiet until a minute has passed since the warning.
  const warnedAt = now;
  while (now + INTERVAL - warnedAt < BEHIND_REPEAT_MS) step(1650, 25_000);
  assert.equal(lines.slice(6).every((l) => l === null), true);
  step(1650, 25_000);
  assert.match(lines.at(-1)!, /^behind its input: batch \d+ took 1,650 ms/);
  // A quick batch that leaves more waiting than it took is not caught up yet.
  step(800, 30_000);
  assert.equal(lines.at(-1), null);
  step(800, 0);
  // Behind since the first warning.
  assert.equal(lines.at(-1), `caught up with its input after ${(now - warnedAt) / 1000} s behind: batch ${lines.length} took 800 ms for 10,000 readings`);
  step(800, 0);
  assert.equal(lines.at(-1), null, 'caught up is said once');
});
