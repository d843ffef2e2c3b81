import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventTimeWindows, FLEET, type PaneRow, type WindowResult } from '../server/engine/event-time.ts';
import { Aggregate } from '../server/engine/aggregate.ts';
import { windowResult } from '../server/engine/window-pack.ts';
import { lastWindowEnd, windowShape, windowStartsContaining } from '../server/engine/windows.ts';
import { Dedupe, DEDUPE_WINDOW } from '../server/engine/dedupe.ts';
import { KeyPanes } from '../server/engine/key-panes.ts';
import { TimeList } from '../server/engine/time-list.ts';
import { mapRows } from '../server/engine/rows.ts';
import type { Reading } from '../server/ingest/reading.ts';

const reading = (deviceId: string, ts: number, temperature: number, arrival = ts): Reading => ({
  deviceId,
  ts,
  temperature,
  humidity: undefined,
  seq: undefined,
  arrival,
});

const brief = (rs: WindowResult[], deviceId = 'd') =>
  rs
    .filter((r) => r.deviceId === deviceId)
    .sort((a, b) => a.start - b.start)
    .map((r) => [r.start, r.end, r.count, r.avg, r.final]);

test('window arithmetic: which windows contain an instant, ends exclusive', () => {
  //   length 10, slide 5:   [-5,5) [0,10) [5,15) [10,20)
  //   t = 9   →  [0,10) [5,15)
  //   t = 10  →  [5,15) [10,20)        (10 is the exclusive end of [0,10))
  const s = windowShape(10, 5);
  assert.equal(s.paneMs, 5);
  assert.deepEqual(windowStartsContaining(s, 9), [0, 5]);
  assert.deepEqual(windowStartsContaining(s, 10), [5, 10]);
  assert.deepEqual(windowStartsContaining(s, -1), [-10, -5]);
  assert.equal(lastWindowEnd(s, 9), 15);
  // length 4, slide 6 (gaps):  [0,4)  gap [4,6)  [6,10)
  const g = windowShape(4, 6);
  assert.equal(g.paneMs, 2);
  assert.deepEqual(windowStartsContaining(g, 3), [0]);
  assert.deepEqual(windowStartsContaining(g, 4), []);
  assert.equal(lastWindowEnd(g, 5), -Infinity);
  // A pane [2,4) of length-4/slide-2 windows lies in [0,4) and [2,6).
  assert.deepEqual(windowStartsContaining(windowShape(4, 2), 2, 2), [0, 2]);
});

test('windows become final when the watermark passes their end; late readings touch nothing', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 5, timeMode: 'event', startedAt: 0 });
  //   tumbling windows of 10, lateness 5
  //   [0,10)  ●1 ●4            ●8(after wm=10: late)
  //   [10,20)         ●15
  w.add(reading('d', 1, 10));
  w.add(reading('d', 4, 20));
  assert.deepEqual(brief(w.advance(4)), [[0, 10, 2, 15, false]]);
  assert.equal(w.watermark, -1); // max event time 4 − lateness 5

  assert.equal(w.add(reading('d', 15, 30)), true);
  // watermark = 15 − 5 = 10 ≥ end of [0,10): it is emitted once more, final.
  assert.deepEqual(brief(w.advance(15)), [
    [0, 10, 2, 15, true],
    [10, 20, 1, 30, false],
  ]);
  assert.equal(w.add(reading('d', 8, 99)), false, 'behind the watermark: late');
  assert.deepEqual(brief(w.advance(16)), [], 'nothing changed');
  // The fleet key saw the same readings.
  assert.deepEqual(brief(w.advance(16), FLEET), []);
});

test('idle input: the watermark follows the clock after allowed lateness of silence, so windows still finalise', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
  //   [0,10) ●5          (input stops at wall time 5)
  //   wall:  5 ....... 105 (not idle yet) ... 106 (idle: watermark = 106 − 100 = 6 < 10) ... 110 → final
  w.add(reading('d', 5, 21, 5));
  assert.deepEqual(brief(w.advance(5)), [[0, 10, 1, 21, false]]);
  assert.deepEqual(brief(w.advance(105)), []);
  assert.deepEqual(brief(w.advance(106)), []);
  assert.equal(w.watermark, 6);
  assert.deepEqual(brief(w.advance(110)), [[0, 10, 1, 21, true]]);
});

test('input accepted but not processed yet is not idleness: noteInput keeps the watermark from following the clock', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
  w.add(reading('d', 5, 21, 5));
  w.advance(5);
  // The engine is behind: at wall time 300 the log still holds readings (its inputAt is 300), one of them at ts 50.
  w.noteInput(300);
  w.advance(300);
  assert.equal(w.watermark, -95, 'by event time only');
  assert.equal(w.add(reading('d', 50, 22, 60)), true, 'the reading that waited in the log is not late');
  // Without it, 300 − 5 > 100 of silence would have moved the watermark to 200, and that reading would be late.
  const behind = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
  behind.add(reading('d', 5, 21, 5));
  behind.advance(5);
  behind.advance(300);
  assert.equal(behind.watermark, 200);
  assert.equal(behind.add(reading('d', 50, 22, 60)), false);
});

test('a restart is not idle time: idleness counts from startedAt', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 1000 });
  w.add(reading('d', 100, 20, 100)); // as a restored checkpoint would hold it
  w.advance(1050);
  // A reading retried right after the restart with an old ts (within the lateness of the newest event) still counts.
  assert.equal(w.add(reading('d', 900, 20, 1050)), true);
  // Had the clock counted from 0, the stream would look idle at 1050 and the watermark would be 950: late.
  const fromZero = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
  fromZero.add(reading('d', 100, 20, 100));
  fromZero.advance(1050);
  assert.equal(fromZero.add(reading('d', 900, 20, 1050)), false);
});

test('before the first reading the clock does not move the watermark: a recording replayed into a server that waited for it is not late', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
  w.advance(5_000);
  w.advance(60_000);
  assert.equal(w.watermark, -Infinity);
  assert.equal(w.add(reading('d', 1_000, 20, 60_000)), true, 'an hour-old reading (here: 59 s) into a fresh stream');
  assert.equal(w.add(reading('d', 1_005, 21, 60_000)), true);
  const results = w.advance(60_001);
  const row = (r: { deviceId: string; start: number; count: number; final: boolean }) => `${r.deviceId} ${r.start} ${r.count} ${r.final}`;
  assert.deepEqual(results.map(row).sort(), ['* 1000 2 false', 'd 1000 2 false']);
  // From the first reading on, idle time closes its windows as before.
  const closed = w.advance(60_200);
  assert.equal(w.watermark, 60_100);
  assert.deepEqual(closed.map(row).sort(), ['* 1000 2 true', 'd 1000 2 true']);
});

test('out-of-order readings within the allowed lateness land in their windows', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 4, slideMs: 2 }], allowedLatenessMs: 10, timeMode: 'event', startedAt: 0 });
  //   length 4, slide 2: [0,4) [2,6) [4,8)
  //   arrival order: ●5  ●1  ●3
  //   [0,4)  ●1 ●3        → 2 readings
  //   [2,6)  ●3 ●5        → 2 readings
  //   [4,8)  ●5           → 1 reading
  for (const ts of [5, 1, 3]) assert.equal(w.add(reading('d', ts, ts)), true);
  assert.deepEqual(brief(w.advance(5)), [
    [-2, 2, 1, 1, false],
    [0, 4, 2, 2, false],
    [2, 6, 2, 4, false],
    [4, 8, 1, 5, false],
  ]);
});

test('processing-time mode places readings by arrival', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 0, timeMode: 'processing', startedAt: 0 });
  w.add(reading('d', 3, 20, 25));
  assert.deepEqual(brief(w.advance(25)), [[20, 30, 1, 20, false]]);
});

test('several window shapes at once, per device and fleet-wide', () => {
  const w = new EventTimeWindows({
    windows: [
      { lengthMs: 10, slideMs: 10 },
      { lengthMs: 20, slideMs: 20 },
    ],
    allowedLatenessMs: 1000,
    timeMode: 'event',
    startedAt: 0,
  });
  w.add(reading('a', 5, 10));
  w.add(reading('b', 15, 20));
  const out = w.advance(15).map((r) => [r.deviceId, r.lengthMs, r.start, r.count, r.avg]);
  assert.deepEqual(
    out.sort((x, y) => String(x).localeCompare(String(y))),
    [
      ['*', 10, 0, 1, 10],
      ['*', 10, 10, 1, 20],
      ['*', 20, 0, 2, 15],
      ['a', 10, 0, 1, 10],
      ['a', 20, 0, 1, 10],
      ['b', 10, 10, 1, 20],
      ['b', 20, 0, 1, 20],
    ],
  );
});

test('dedupe: a (deviceId, seq) is accepted once, in bounded memory', () => {
  const d = new Dedupe();
  assert.equal(d.firstTime('a', 1), true);
  assert.equal(d.firstTime('a', 1), false);
  assert.equal(d.firstTime('b', 1), true, 'per device');
  assert.equal(d.firstTime('a', 3), true);
  assert.equal(d.firstTime('a', 2), true, 'out of order is not a duplicate');
  assert.equal(d.firstTime('a', 2), false);
  assert.equal(d.firstTime('a', 10_000), true);
  assert.equal(d.firstTime('a', 10_000 - DEDUPE_WINDOW + 1), true, 'inside the window and unseen');
  assert.equal(d.firstTime('a', 10_000 - DEDUPE_WINDOW + 1), false);
  assert.equal(d.firstTime('a', 3), true, 'far behind: the counter restarted');
  assert.equal(d.firstTime('a', 3), false);
  assert.equal(d.firstTime('a', 4), true);
});

test('dedupe: a restarted counter is recognised by a newer device timestamp; resends are not', () => {
  const d = new Dedupe();
  for (let seq = 1; seq <= 50; seq++) assert.equal(d.firstTime('a', seq, 1000 + seq, true), true);
  assert.equal(d.firstTime('a', 20, 1020, true), false, 'a resend carries its original ts');
  assert.equal(d.firstTime('a', 1, 5000, true), true, 'seq 1 stamped after seq 50: the device restarted');
  assert.equal(d.firstTime('a', 2, 5001, true), true);
  assert.equal(d.firstTime('a', 2, 5001, true), false);
  // The reading with the highest seq was not stamped by the device (its ts is the arrival time): a later resend of
  // an older seq, stamped by the device, must still be recognised as a resend.
  assert.equal(d.firstTime('c', 1, 100, true), true);
  assert.equal(d.firstTime('c', 2, 200, false), true);
  assert.equal(d.firstTime('c', 1, 100, true), false);
  assert.equal(d.firstTime('b', 1, 10), true);
  assert.equal(d.firstTime('b', 2, 20), true);
  assert.equal(d.firstTime('b', 1, 30), false, 'without device timestamps only a far-behind seq restarts the counter');
});

test('a device clock running ahead does not make the others late', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 5, timeMode: 'event', startedAt: 0 });
  w.add(reading('fast', 1060, 20, 100)); // stamped 960 ms ahead of its arrival
  w.advance(100);
  assert.equal(w.watermark, 95);
  assert.equal(w.add(reading('d', 98, 21, 100)), true, 'on time for the server clock');
});

test("openWindowRefresh 'final': a device's windows only once each, when final; the fleet's as with 'slide'", () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 2 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0, openWindowRefresh: 'final' });
  w.add(reading('d', 1, 10));
  const first = w.advance(1);
  assert.deepEqual(brief(first), [], 'no open device window is emitted');
  assert.equal(brief(first, '*').length, 5, 'the fleet windows are, as they get their first data');
  w.add(reading('d', 2, 30));
  assert.deepEqual(brief(w.advance(2)), []);
  w.flushOpenWindows();
  assert.deepEqual(brief(w.advance(3)), [], 'a graceful stop writes no open device window either');
  // Idle long enough: every window final, each emitted once with all its readings.
  assert.deepEqual(brief(w.advance(500)), [[-8, 2, 1, 10, true], [-6, 4, 2, 20, true], [-4, 6, 2, 20, true], [-2, 8, 2, 20, true], [0, 10, 2, 20, true], [2, 12, 1, 30, true]]);
  assert.deepEqual(brief(w.advance(501)), []);
});

test('open windows: the newest and new ones every batch, the others refreshed once per slide, every one once final', () => {
  // Windows of 10 sliding by 2 (panes of 2), batches every 1: a reading falls in 5 windows.
  const options = { windows: [{ lengthMs: 10, slideMs: 2 }], allowedLatenessMs: 100, timeMode: 'event' as const, startedAt: 0 };
  const slide = new EventTimeWindows(options);
  const batch = new EventTimeWindows({ ...options, openWindowRefresh: 'batch' });
  const both = (f: (w: EventTimeWindows) => void) => [slide, batch].forEach(f);
  // Batch at 1: every window holding the reading is new, so all are emitted (by both).
  both((w) => w.add(reading('d', 1, 10)));
  const first = [[-8, 2, 1, 10, false], [-6, 4, 1, 10, false], [-4, 6, 1, 10, false], [-2, 8, 1, 10, false], [0, 10, 1, 10, false]];
  assert.deepEqual(brief(slide.advance(1)), first);
  assert.deepEqual(brief(batch.advance(1)), first);
  // Batch at 2: a second reading in the same pane. "slide": only the newest window, [0, 10) (the others were
  // refreshed at 1, their next refresh is due at 1 + slide = 3); "batch": all five.
  both((w) => w.add(reading('d', 1, 20)));
  assert.deepEqual(brief(slide.advance(2)), [[0, 10, 2, 15, false]]);
  const all = [[-8, 2, 2, 15, false], [-6, 4, 2, 15, false], [-4, 6, 2, 15, false], [-2, 8, 2, 15, false], [0, 10, 2, 15, false]];
  assert.deepEqual(brief(batch.advance(2)), all);
  // Batch at 3, no input for the device: "slide" refreshes the windows the reading at 2 changed (a quiet key shows
  // what waits at once); "batch" has nothing to say.
  assert.deepEqual(brief(slide.advance(3)), all);
  assert.deepEqual(brief(batch.advance(3)), []);
  // A reading in the next pane opens [2, 12), new: emitted at once with the newest, which it is; the four older
  // windows it also changed wait for the next refresh (due at 3 + slide = 5).
  both((w) => w.add(reading('d', 2, 30)));
  assert.deepEqual(brief(slide.advance(4)), [[2, 12, 1, 30, false]]);
  // Idle long enough: the watermark follows the clock and every window becomes final, emitted once with all its
  // readings (the same by both), whatever was refreshed before.
  const final = [
    [-8, 2, 2, 15, true], [-6, 4, 3, 20, true], [-4, 6, 3, 20, true], [-2, 8, 3, 20, true], [0, 10, 3, 20, true], [2, 12, 1, 30, true],
  ];
  batch.advance(4);
  assert.deepEqual(brief(slide.advance(500)), final);
  assert.deepEqual(brief(batch.advance(500)), final);
  assert.deepEqual(brief(slide.advance(501)), []);
});

test('anomaly counts by type: kept beside the panes that have one, checkpointed with them, restored exactly', () => {
  const opts = { windows: [{ lengthMs: 10, slideMs: 5 }], allowedLatenessMs: 100, timeMode: 'event' as const, startedAt: 0 };
  const w = new EventTimeWindows(opts);
  w.add(reading('d', 1, 20));
  w.add(reading('d', 6, 21));
  w.add(reading('e', 7, 22));
  w.countAnomaly('d', 6, 6, 2);
  w.countAnomaly('d', 7, 7, 2);
  w.countAnomaly('d', 8, 8, 0);
  const first = w.advance(8);
  const delta = w.takeDelta();
  // Pane [5,10) of d holds anomalies: 19 doubles and its 7 counts by type; the fleet's panes their 19 doubles; d's and
  // e's others one reading each: its 3 doubles.
  const sizes = Object.fromEntries(mapRows(delta.upserts, (p) => [`${p.key}@${p.start}`, p.state.length / 8]));
  assert.deepEqual(sizes, { 'd@0': 3, 'd@5': 26, 'e@5': 3, '*@0': 19, '*@5': 26 });
  const byType = (rs: WindowResult[], id: string, start: number) => {
    const r = rs.find((x) => x.deviceId === id && x.start === start)!;
    return [r.anomalies, Object.fromEntries(Object.entries(r.anomaliesByType).filter(([, n]) => n > 0))];
  };
  assert.deepEqual(byType(first, 'd', 5), [3, { threshold: 1, dip: 2 }]);
  assert.deepEqual(byType(first, FLEET, 5), [3, { threshold: 1, dip: 2 }], 'the fleet pane takes the counts by type of its devices');
  // A restored copy gives the same windows, by type too, and keeps counting.
  const again = new EventTimeWindows(opts);
  again.restore(w.clockState(), delta.upserts);
  for (const x of [w, again]) x.countAnomaly('d', 9, 9, 2);
  const [a, b] = [w.advance(200), again.advance(200)];
  const finals = (rs: WindowResult[]) => rs.filter((r) => r.final).sort((x, y) => `${x.deviceId}${x.start}`.localeCompare(`${y.deviceId}${y.start}`));
  assert.deepEqual(finals(b), finals(a));
  assert.deepEqual(byType(a, 'd', 5)[0], 4);
});

test('checkpoint delta: a pane a batch changed and then evicted (the watermark jumped past it) is deleted, not upserted; rows are read from the panes as they are at the commit', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 5 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
  w.add(reading('d', 1, 20));
  w.advance(1);
  const first = w.takeDelta();
  assert.deepEqual(mapRows(first.upserts, (p) => `${p.key}@${p.start}`), ['d@0', '*@0']);
  // In one batch: d's pane [0,5) changes, and a reading an hour ahead moves the watermark past every window holding it.
  w.add(reading('d', 2, 22));
  w.add(reading('d', 3_600_000, 23));
  const results = w.advance(3_600_000);
  assert.ok(results.some((r) => r.deviceId === 'd' && r.start === 0 && r.final && r.count === 2), 'its final window has both readings');
  const delta = w.takeDelta();
  const upserts = mapRows(delta.upserts, (p) => `${p.key}@${p.start}`);
  const deletes = mapRows(delta.deletes, (p) => `${p.key}@${p.start}`);
  assert.ok(!upserts.includes('d@0') && !upserts.includes('*@0'), `upserts ${upserts}`);
  assert.ok(deletes.includes('d@0') && deletes.includes('*@0'), `deletes ${deletes}`);
  assert.ok(upserts.includes('d@3600000'));
  // Read twice (a commit retried), the rows are the same; their bytes are the pane's.
  const bytes = () => mapRows(delta.upserts, (p) => [p.key, p.start, [...new Float64Array(p.state.buffer, p.state.byteOffset, 2)]]);
  assert.deepEqual(bytes(), bytes());
  assert.deepEqual(bytes().find(([k]) => k === 'd'), ['d', 3_600_000, [23, 3_600_000]], 'one reading: temperature, ts');
});

test('KeyPanes: a forgotten pane takes its counts by type with it; a pane created again at its start has none', () => {
  const panes = new KeyPanes(1);
  const k = panes.addKey();
  const o = panes.pane(k, 0, 10);
  panes.addAnomaly(o, 3);
  assert.deepEqual([...panes.byType(o)!], [0, 0, 0, 1, 0, 0, 0]);
  assert.equal(panes.byType(panes.pane(k, 0, 20)), null, 'another pane has none');
  panes.forget(k, 0, 10);
  assert.equal(panes.byType(panes.create(k, 0, 10)), null);
});

test('KeyPanes: a forgotten pane\'s slot goes to the next pane of any key and shape, cleared; panes keep their numbers while thousands of others come and go; changed and new until settled; a removed key\'s head starts afresh', () => {
  const panes = new KeyPanes(2);
  const a = panes.addKey();
  const b = panes.addKey();
  const sa = panes.pane(a, 0, 0);
  panes.widen(sa);
  panes.data(sa)[panes.at(sa)] = 7; // its count
  const sb = panes.pane(b, 0, 0);
  assert.notEqual(sa, sb);
  panes.forget(a, 0, 0);
  assert.equal(panes.find(a, 0, 0), -1);
  assert.ok(panes.isEmpty(a));
  const again = panes.pane(b, 1, 10);
  assert.equal(again, sa, 'the freed slot is taken again');
  assert.deepEqual([panes.startOf(again), panes.data(again)[panes.at(again)]], [10, 0], 'with its start, cleared');
  assert.deepEqual([panes.isNew(again), panes.isChanged(again), panes.changedCount(b, 1), panes.changedCount(b, 0)], [true, true, 1, 1]);
  panes.settle(b, 1);
  assert.deepEqual([panes.isNew(again), panes.isChanged(again), panes.changedCount(b, 1), panes.changedCount(b, 0)], [false, false, 0, 1], 'shape 0 untouched');
  // 3,000 keys of 5 panes in each shape (more than a pool's chunk of 1,024 slots), two panes forgotten, two placed.
  const keys = Array.from({ length: 3000 }, () => panes.addKey());
  const value = (k: number, i: number, p: number) => k * 100 + i * 10 + p;
  const set = (k: number, i: number, p: number) => {
    const s = panes.pane(k, i, p);
    if (p % 2 === 0) panes.widen(s); // the others hold one reading
    if (p % 2 === 0) panes.data(s)[panes.at(s) + 1] = value(k, i, p);
    else panes.addReading(s, reading('d', 1, value(k, i, p)));
  };
  for (const i of [0, 1]) {
    keys.forEach((k) => [0, 1, 2, 3, 4].forEach((p) => set(k, i, p)));
    keys.forEach((k) => [1, 3].forEach((p) => panes.forget(k, i, p)));
    keys.forEach((k) => [5, 6].forEach((p) => set(k, i, p)));
  }
  for (const k of keys) {
    for (const i of [0, 1]) {
      assert.deepEqual([0, 2, 4, 5, 6].map((p) => panes.data(panes.find(k, i, p))[panes.at(panes.find(k, i, p)) + 1]), [0, 2, 4, 5, 6].map((p) => value(k, i, p)));
      const order: number[] = [];
      for (let s = panes.first(k, i); s >= 0; s = panes.next(s)) order.push(panes.startOf(s));
      assert.deepEqual(order, [0, 2, 4, 5, 6], 'panes in the order they were placed');
      assert.equal(panes.size(k, i), 5);
      assert.equal(panes.changedCount(k, i), 5, 'two changed panes forgotten');
    }
  }
  const c = panes.addKey();
  panes.setPendingFrom(c, 1, 5);
  panes.removeKey(c);
  assert.equal(panes.pendingFrom(panes.addKey(), 1), Infinity);
});

test('a window of equal readings (a stuck sensor) has a standard deviation of exactly 0, device and fleet', () => {
  // sumSq / n − mean² of three readings of 21.7 is 5.7e-14 in floating point, not 0: the stddev was 2.4e-7.
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 5, timeMode: 'event', startedAt: 0 });
  for (const t of [1, 2, 3]) w.add({ ...reading('d', t, 21.7), humidity: 43.3 });
  const rs = w.advance(3).filter((r) => r.start === 0).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  assert.deepEqual(rs.map((r) => [r.deviceId, r.count, r.stddev, r.humidityStddev]), [[FLEET, 3, 0, 0], ['d', 3, 0, 0]]);
});

test('fleet first and last do not depend on which device the server saw first (readings of several devices at one ts)', () => {
  // Two devices report at the same instants (whole seconds: common). The fleet's first and last are then the lowest
  // of the tied readings, whatever the order of the devices in memory — which is the order they were first seen, and
  // after a restart the order the checkpoint's panes were read back in: the same recording gave other values.
  //   ts      1      5
  //   z      20     26     humidity 50, 56
  //   a      30     24     humidity 60, 54
  const fleetOf = (order: string[]) => {
    const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 5, timeMode: 'event', startedAt: 0 });
    const values: Record<string, [number, number]> = { z: [20, 26], a: [30, 24] };
    for (const [i, t] of [1, 5].entries()) for (const id of order) w.add({ ...reading(id, t, values[id][i]), humidity: values[id][i] + 30 });
    const f = w.advance(5).find((r) => r.deviceId === FLEET)!;
    return [f.first, f.last, f.humidityFirst, f.humidityLast];
  };
  assert.deepEqual(fleetOf(['z', 'a']), [20, 24, 50, 54]);
  assert.deepEqual(fleetOf(['a', 'z']), [20, 24, 50, 54]);
});

test('a fleet pane stays the merge of its device panes when a device sends its last ts again: its last is its newest arrival', () => {
  // A device's last is the last of its readings at its last ts to arrive; the fleet's last, of the devices' lasts at
  // that ts, the lowest. Here a's last goes from 10 to 30 while its last ts stays 5, so the fleet's goes from 10 to
  // b's 20: a reading is not merged into the fleet pane, which is merged anew from the device panes.
  //   ts      5            5       5       7 (another pane)
  //   a      10 (first)   ·      30 (last)  ·
  //   b       ·           20      ·        ·
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 5, timeMode: 'event', startedAt: 0 });
  w.add({ ...reading('a', 5, 10), humidity: 40 });
  w.add({ ...reading('b', 5, 20), humidity: 50 });
  w.add({ ...reading('a', 5, 30), humidity: 60 });
  const rs = w.advance(5).filter((r) => r.start === 0);
  const of = (id: string) => rs.find((r) => r.deviceId === id)!;
  assert.deepEqual([of('a').last, of('b').last, of(FLEET).last], [30, 20, 20]);
  assert.deepEqual([of('a').humidityLast, of('b').humidityLast, of(FLEET).humidityLast], [60, 50, 50]);
  assert.deepEqual([of(FLEET).first, of(FLEET).count, of(FLEET).min, of(FLEET).max, of(FLEET).avg], [10, 3, 10, 30, 20]);
  // The fleet pane merged anew keeps taking readings as they come.
  w.add({ ...reading('b', 9, 15), humidity: 45 });
  const again = w.advance(6).find((r) => r.deviceId === FLEET && r.start === 0)!;
  assert.deepEqual([again.count, again.last, again.humidityLast, again.min], [4, 15, 45, 10]);
});

test('fleet first and last with many readings at the same ts, in any order: the lowest of the devices\' first and last (each a device\'s first and last to arrive at its first and last ts)', () => {
  let seed = 3;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 200; round++) {
    const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 10 }], allowedLatenessMs: 100, timeMode: 'event', startedAt: 0 });
    const readings: Reading[] = [];
    for (let n = 0; n < 30; n++) {
      const r = { ...reading(`d${Math.floor(random() * 4)}`, Math.floor(random() * 3), Math.floor(random() * 5)), humidity: Math.floor(random() * 5) };
      readings.push(r);
      w.add(r);
    }
    const fleet = w.advance(0).find((r) => r.deviceId === FLEET && r.start === 0)!;
    // Each device's first: its first reading to arrive at its lowest ts; its last: its last to arrive at its highest.
    const ends = (pick: (r: Reading) => number) => {
      const byDevice = new Map<string, Reading[]>();
      for (const r of readings) byDevice.set(r.deviceId, [...(byDevice.get(r.deviceId) ?? []), r]);
      const firsts: [number, number][] = [];
      const lasts: [number, number][] = [];
      for (const rs of byDevice.values()) {
        const lo = Math.min(...rs.map((r) => r.ts));
        const hi = Math.max(...rs.map((r) => r.ts));
        firsts.push([lo, pick(rs.find((r) => r.ts === lo)!)]);
        lasts.push([hi, pick(rs.findLast((r) => r.ts === hi)!)]);
      }
      const lo = Math.min(...firsts.map(([t]) => t));
      const hi = Math.max(...lasts.map(([t]) => t));
      return [Math.min(...firsts.filter(([t]) => t === lo).map(([, v]) => v)), Math.min(...lasts.filter(([t]) => t === hi).map(([, v]) => v))];
    };
    assert.deepEqual([fleet.first, fleet.last], ends((r) => r.temperature), `round ${round}`);
    assert.deepEqual([fleet.humidityFirst, fleet.humidityLast], ends((r) => r.humidity!), `round ${round}`);
  }
});

test('a window shape whose last pane of a key was evicted starts afresh for that key: its refresh is not paced by the refreshes before', () => {
  // Two shapes; the fleet's 10/5 panes outlive its 6/10 ones. With the 6/10 shape's bookkeeping kept from before its
  // last pane went, the fleet's window [20,26) was shown again, unchanged, at 25 (restarts in between).
  const options = { windows: [{ lengthMs: 6, slideMs: 10 }, { lengthMs: 10, slideMs: 5 }], allowedLatenessMs: 0, timeMode: 'processing' as const, startedAt: 0, openWindowRefresh: 'final' as const };
  let w = new EventTimeWindows(options);
  const rows = new Map<string, PaneRow>();
  const shown: string[] = [];
  const batch = (now: number) => {
    for (const r of w.advance(now)) if (r.deviceId === FLEET && r.lengthMs === 6) shown.push(`${now}: [${r.start},${r.end}) ${r.count}${r.final ? ' final' : ''}`);
    const delta = w.takeDelta();
    delta.upserts.forEach((r) => void rows.set(`${r.lengthMs}/${r.key}/${r.start}`, { ...r, state: Uint8Array.from(r.state) }));
    delta.deletes.forEach((r) => void rows.delete(`${r.lengthMs}/${r.key}/${r.start}`));
  };
  const restart = (now: number) => {
    const clock = w.clockState();
    w = new EventTimeWindows({ ...options, startedAt: now });
    w.restore(clock, [...rows.values()]);
  };
  const at = (deviceId: string, ts: number, arrival: number, humidity?: number) => w.add({ ...reading(deviceId, ts, 1, arrival), humidity });
  batch(5);
  restart(5);
  at('a', 10, 10);
  at('c', 6, 10);
  at('b', 8, 10, 2);
  [10, 12, 14].forEach(batch);
  at('e', 5, 15, 0);
  batch(15);
  restart(15);
  at('a', 12, 18);
  at('d', 18, 18, 1);
  batch(18);
  at('d', 18, 20, 0);
  [20, 25].forEach(batch);
  assert.deepEqual(shown, ['10: [10,16) 3', '15: [10,16) 4', '18: [10,16) 4 final', '20: [20,26) 1']);
});

test('the window starts of a key to emit: in the order added, each once, -0 as 0 (as the Set it replaced held them)', () => {
  const list = new TimeList();
  for (const t of [4000, -0, 4000, 8000, 0]) list.add(t);
  assert.deepEqual(list.times.slice(0, list.length), [4000, 0, 8000]);
  assert.ok(Object.is(list.times[1], 0), 'the window starting at epoch 0 is 0, not -0');
  list.clear();
  for (const t of [8000, 4000, 8000]) list.add(t);
  assert.deepEqual(list.times.slice(0, list.length), [8000, 4000], 'emptied, then each once again');
});

test('KeyPanes: a pane is kept as the one reading it holds until a second reading, an anomaly or a write of more than one reading\'s aggregate widens it; data() reads either as the whole aggregate', () => {
  const panes = new KeyPanes(1);
  const k = panes.addKey();
  const whole = (rs: Reading[], anomaly = false) => {
    const g = new Aggregate();
    rs.forEach((r) => g.add(r));
    if (anomaly) g.addAnomaly(1);
    return g;
  };
  const state = (s: number) => [...panes.data(s).subarray(panes.at(s), panes.at(s) + 19)];
  const one = { ...reading('d', 5, 21.25), humidity: 40.5 };
  const two = reading('d', 7, 19);
  const s = panes.pane(k, 0, 0);
  assert.deepEqual([panes.isWide(s), state(s)], [false, [...new Float64Array(whole([]).toBytes().buffer, 0, 19)]], 'empty');
  panes.addReading(s, one);
  assert.deepEqual([panes.isWide(s), state(s)], [false, [...new Float64Array(whole([one]).toBytes().buffer, 0, 19)]]);
  panes.addReading(s, two);
  assert.deepEqual([panes.isWide(s), state(s)], [true, [...new Float64Array(whole([one, two]).toBytes().buffer, 0, 19)]]);
  const a = panes.pane(k, 0, 10);
  panes.addReading(a, two);
  panes.addAnomaly(a, 1);
  assert.deepEqual([panes.isWide(a), state(a)], [true, [...new Float64Array(whole([two], true).toBytes().buffer, 0, 19)]]);
  // A reading the slot cannot give back exactly widens its pane at once: a ts not a whole ms, a third decimal, a
  // value beyond ±327.67, −0.
  const odd = [{ ...reading('d', 5.5, 21.25), humidity: 40.5 }, reading('d', 5, 21.375), { ...reading('d', 5, 21), humidity: 40.125 }, reading('d', 5, 400), reading('d', 5, -0)];
  for (const r of odd) {
    const p = panes.pane(k, 0, 1000 * (1 + odd.indexOf(r)));
    panes.addReading(p, r);
    assert.deepEqual([panes.isWide(p), state(p)], [true, [...new Float64Array(whole([r]).toBytes().buffer, 0, 19)]], `${r.ts} ${r.temperature} ${r.humidity}`);
  }
  // Kept: the largest values in hundredths, negative ones, a ts 2^31 − 1 ms after the start.
  for (const r of [{ ...reading('d', 8000, -327.67), humidity: 327.67 }, reading('d', 10_000 + 2 ** 31 - 1, 0.01)]) {
    const p = panes.pane(k, 0, r.ts < 10_000 ? 8000 : 10_000);
    panes.addReading(p, r);
    const out = new Float64Array(3);
    assert.deepEqual([panes.isWide(p), panes.readingOf(p, out), [...out], state(p)], [false, true, [r.temperature, r.ts, r.humidity ?? NaN], [...new Float64Array(whole([r]).toBytes().buffer, 0, 19)]]);
  }
  // Written (a restore): one reading's aggregate stays one reading; two readings', or one with an anomaly, or one
  // that the slot cannot keep, are wide.
  for (const [rs, anomaly, wide] of [[[one], false, false], [[two], false, false], [[one, two], false, true], [[one], true, true], [[odd[1]], false, true], [[odd[0]], false, true]] as const) {
    const w = panes.pane(k, 0, 100 + panes.size(k, 0));
    panes.write(w, whole([...rs], anomaly));
    assert.deepEqual([panes.isWide(w), state(w), panes.byType(w)?.[1] ?? 0], [wide, [...new Float64Array(whole([...rs], anomaly).toBytes().buffer, 0, 19)], anomaly ? 1 : 0]);
  }
});

test('KeyPanes: a key\'s panes are listed by start whatever order they come in; find, findFrom (any hint), firstFrom and settledBefore agree with a sorted list', () => {
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 50; round++) {
    const panes = new KeyPanes(2);
    const d = panes.addKey();
    const held = new Map<number, number>(); // start → slot
    const order = random() < 0.3 ? 'ascending' : random() < 0.5 ? 'descending' : 'random';
    const starts = Array.from({ length: 1 + Math.floor(random() * 60) }, (_, k) => (order === 'random' ? Math.floor(random() * 100) : k) * 2000);
    if (order === 'descending') starts.reverse();
    for (const p of starts) if (!held.has(p)) held.set(p, panes.pane(d, 1, p));
    for (const p of [...held.keys()]) if (random() < 0.3) (panes.forget(d, 1, p), held.delete(p));
    panes.settle(d, 1);
    const sorted = [...held.keys()].sort((a, b) => a - b);
    const listed: number[] = [];
    for (let s = panes.first(d, 1); s >= 0; s = panes.next(s)) listed.push(panes.startOf(s));
    assert.deepEqual(listed, sorted, `${order}, round ${round}`);
    assert.equal(panes.size(d, 1), sorted.length);
    const slots = [...held.values()];
    for (let q = -2000; q <= 201_000; q += 1000) {
      const hint = slots.length > 0 && random() < 0.7 ? slots[Math.floor(random() * slots.length)] : -1;
      assert.equal(panes.find(d, 1, q), held.get(q) ?? -1, `find ${q}`);
      assert.equal(panes.findFrom(d, 1, q, hint), held.get(q) ?? -1, `findFrom ${q}`);
      const next = sorted.find((p) => p >= q);
      assert.equal(panes.firstFrom(d, 1, q, hint), next === undefined ? -1 : held.get(next), `firstFrom ${q}`);
    }
    assert.equal(panes.first(d, 0), -1, 'the other shape holds nothing');
    if (sorted.length > 0) {
      const fresh = sorted.at(-1)! + 2000;
      panes.pane(d, 1, fresh); // new since the settle
      assert.equal(panes.settledBefore(panes.firstFrom(d, 1, fresh, -1), Infinity), false, 'only a new pane from there on');
      assert.equal(panes.settledBefore(panes.first(d, 1), Infinity), true);
    }
  }
});

test('a device\'s backlog of hours in one batch (thousands of its panes) makes the same windows as its readings batch by batch', () => {
  const shapes = [{ lengthMs: 10_000, slideMs: 2000 }, { lengthMs: 60_000, slideMs: 10_000 }, { lengthMs: 300_000, slideMs: 60_000 }];
  const t0 = 1_767_225_600_000;
  const readings = Array.from({ length: 3600 }, (_, i) => reading('d', t0 + i * 2000 + (i % 7) * 100, 20 + (i % 50) / 10, t0 + 7_200_000));
  const windows = (batches: Reading[][]): string[] => {
    const w = new EventTimeWindows({ windows: shapes, allowedLatenessMs: 10_000, timeMode: 'event', startedAt: t0 });
    const out: WindowResult[] = [];
    batches.forEach((rs, b) => {
      for (const r of rs) assert.equal(w.add(r), true, 'none late');
      out.push(...w.advance(t0 + 7_200_000 + b));
    });
    out.push(...w.advance(t0 + 8_000_000)); // idle: every window final
    return out.filter((r) => r.final).map((r) => JSON.stringify(r)).sort();
  };
  const all = windows([readings]);
  assert.ok(all.length > 4000, `${all.length} final windows`);
  assert.deepEqual(all, windows(Array.from({ length: 360 }, (_, b) => readings.slice(b * 10, b * 10 + 10))));
});

test('openWindowRefresh "slide": a reading\'s windows that get their first data are shown at once, those already holding settled data wait for the refresh', () => {
  // 10 s windows every 2 s. Batch 1: a reading at 0 (pane 0, settled by the emit). Batch 2, before the refresh is due:
  // a reading at 8 s lies in the windows starting at 0 … 8; 2, 4 and 6 get their first data, 8 is the newest, and 0
  // (holding pane 0 already) waits for its refresh.
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10_000, slideMs: 2000 }], allowedLatenessMs: 60_000, timeMode: 'event', startedAt: 0, openWindowRefresh: 'slide' });
  w.add(reading('d', 0, 20, 0));
  assert.deepEqual(brief(w.advance(1000)).map(([start]) => start), [-8000, -6000, -4000, -2000, 0]);
  w.add(reading('d', 8000, 22, 1500));
  assert.deepEqual(brief(w.advance(1500)).map(([start, , count]) => [start, count]), [[2000, 1], [4000, 1], [6000, 1], [8000, 1]]);
  // At the refresh (a slide later) the window at 0 comes with both readings.
  assert.deepEqual(brief(w.advance(3000)).filter(([start]) => start === 0).map(([, , count]) => count), [2]);
});

test("dedupe: a restarted counter's first reading stamped the millisecond it arrives is counted; a resend without ts is not", () => {
  // The device's clock and the server's read the same millisecond (one machine): it was taken as "not stamped", so
  // seq 1 after seq 3 looked like a resend and was dropped.
  const d = new Dedupe();
  const r = (seq: number, ts: number, arrival: number, filled = false): Reading => ({
    deviceId: 'x', ts, temperature: 20, humidity: undefined, seq, arrival, ...(filled ? { tsFilled: true as const } : {}),
  });
  for (let seq = 1; seq <= 3; seq++) assert.equal(d.firstReading(r(seq, seq * 1000, seq * 1000 + 1)), true);
  assert.equal(d.firstReading(r(1, 9000, 9000)), true, 'restarted at 1, stamped at its arrival');
  assert.equal(d.firstReading(r(1, 9000, 9002)), false, 'and its resend');
  // A device that sends no ts: the server's arrival time grows at every resend, which is no restart.
  const u = new Dedupe();
  const filled = (seq: number, at: number) => ({ ...r(seq, at, at, true), deviceId: 'u' });
  for (let seq = 1; seq <= 3; seq++) assert.equal(u.firstReading(filled(seq, seq * 1000)), true);
  assert.equal(u.firstReading(filled(2, 9000)), false, 'a resend of seq 2, arriving later');
});

test('panes holding one reading keep just the reading: every window, device and fleet, and every checkpointed pane equal the aggregates of their readings, sparse devices and dense, before and after a restore', () => {
  // Quarter degrees and half percents: every sum is exact in any order, so the reference can add readings as it likes.
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const windows = [{ lengthMs: 10, slideMs: 2 }, { lengthMs: 60, slideMs: 10 }, { lengthMs: 30, slideMs: 30 }];
  const opts = { windows, allowedLatenessMs: 8, timeMode: 'event' as const, startedAt: 0 };
  const shapes = windows.map((x) => windowShape(x.lengthMs, x.slideMs));
  const every = (d: number) => [1, 3, 10, 25][d % 4]; // dense devices widen every pane, sparse ones few
  const accepted: { r: Reading; anomaly: number }[] = [];
  let late = 0;
  let w = new EventTimeWindows(opts);
  const finals = new Map<string, WindowResult>();
  const panes = new Map<string, Uint8Array>();
  const sizes = new Set<number>(); // of the checkpoint rows: one reading's, an aggregate's, one with counts by type
  const take = (rs: WindowResult[]) => {
    for (const r of rs.filter((x) => x.final)) {
      const k = `${r.deviceId} ${r.lengthMs}/${r.slideMs} ${r.start}`;
      assert.ok(!finals.has(k), `final twice: ${k}`);
      finals.set(k, r);
    }
    const delta = w.takeDelta();
    mapRows(delta.deletes, (p) => panes.delete(`${p.key} ${p.lengthMs}/${p.slideMs} ${p.start}`));
    mapRows(delta.upserts, (p) => {
      panes.set(`${p.key} ${p.lengthMs}/${p.slideMs} ${p.start}`, p.state.slice());
      sizes.add(p.state.length / 8);
    });
  };
  // The aggregate of a device's accepted readings (arrival order) from `start` to `end`, the fleet's the merge of its devices'.
  const reference = (id: string, start: number, end: number): Aggregate => {
    const byDevice = new Map<string, Aggregate>();
    for (const { r, anomaly } of accepted) {
      if (r.ts < start || r.ts >= end || (id !== FLEET && r.deviceId !== id)) continue;
      let g = byDevice.get(r.deviceId);
      if (g === undefined) byDevice.set(r.deviceId, (g = new Aggregate()));
      g.add(r);
      if (anomaly >= 0) g.addAnomaly(anomaly);
    }
    const all = new Aggregate();
    for (const g of byDevice.values()) all.merge(g);
    return all;
  };
  for (let now = 1; now <= 400; now++) {
    for (let d = 0; d < 24; d++) {
      if (now % every(d) !== d % every(d) && random() > 0.05) continue;
      const ts = Math.max(0, now - Math.floor(random() * random() * 14)); // mostly in order, some late, some too late
      // Mostly values a pane slot keeps (hundredths, whole ms); some it cannot, which widen the pane at once (a third
      // decimal, beyond ±327.67, half a ms). Each a binary fraction, so that sums do not depend on their order.
      const odd = random();
      const temperature = Math.round(random() * 240 - 80) / 4 + (odd < 0.03 ? 1 / 1024 : odd < 0.05 ? 400 : 0);
      const humidity = random() < 0.5 ? Math.round(random() * 200) / 2 + (random() < 0.05 ? 1 / 512 : 0) : undefined;
      const r: Reading = { ...reading(`d${d}`, ts + (random() < 0.03 ? 0.5 : 0), temperature, now), humidity };
      for (let times = random() < 0.1 ? 2 : 1; times > 0; times--) { // sometimes twice at one ts
        if (!w.add(r)) {
          late++;
          continue;
        }
        const anomaly = random() < 0.05 ? Math.floor(random() * 7) : -1;
        if (anomaly >= 0) w.countAnomaly(r.deviceId, ts, ts, anomaly);
        accepted.push({ r, anomaly });
      }
    }
    if (now % 3 === 0) take(w.advance(now));
    if (now === 201) { // just after a batch
      // A restart: the panes from the checkpoint rows, some holding one reading, go on as the panes they were. Every
      // other one-reading row as schema version 11 wrote it, its 19-double aggregate: restored as compact as the rest.
      const clock = w.clockState();
      w = new EventTimeWindows({ ...opts, startedAt: now });
      let old = 0;
      w.restore(clock, [...panes].map(([k, state]) => {
        const [key, shape, start] = k.split(' ');
        const [lengthMs, slideMs] = shape.split('/').map(Number);
        const v11 = state.length === 24 && old++ % 2 === 0 ? Aggregate.fromBytes(state).toBytes().subarray(0, 19 * 8) : state;
        return { key, lengthMs, slideMs, start: Number(start), state: v11 };
      }));
      assert.ok(old > 20, `${old} one-reading rows`);
    }
    if (now % 45 === 0) { // just after a batch: its checkpoint holds every reading so far
      for (const [k, state] of panes) {
        const [key, shape, start] = k.split(' ');
        const paneMs = shapes.find((x) => `${x.lengthMs}/${x.slideMs}` === shape)!.paneMs;
        assert.deepEqual(Aggregate.fromBytes(state).toBytes(), reference(key, Number(start), Number(start) + paneMs).toBytes(), `pane ${k}`);
      }
    }
  }
  take(w.advance(10_000));
  assert.equal(panes.size, 0, 'every pane evicted');
  let expected = 0;
  for (const shape of shapes) {
    for (const id of [FLEET, ...Array.from({ length: 24 }, (_, d) => `d${d}`)]) {
      for (let start = -shape.lengthMs + shape.slideMs; start < 420; start += shape.slideMs) {
        const g = reference(id, start, start + shape.lengthMs);
        const got = finals.get(`${id} ${shape.lengthMs}/${shape.slideMs} ${start}`);
        if (g.count === 0 && g.anomalies === 0) {
          assert.equal(got, undefined, `${id} ${start}`);
          continue;
        }
        expected++;
        const want = windowResult(id, shape.lengthMs, shape.slideMs, start, start + shape.lengthMs, true, g);
        if (id === FLEET) {
          const { sum, sumSq, firstTs, lastTs, humiditySum, humiditySumSq, humidityFirstTs, humidityLastTs } = g;
          want.sums = { sum, sumSq, firstTs, lastTs, humiditySum, humiditySumSq, humidityFirstTs, humidityLastTs };
        }
        assert.deepEqual(got, want, `${id} ${shape.lengthMs}/${shape.slideMs} ${start}`);
      }
    }
  }
  assert.equal(finals.size, expected, 'no other window');
  assert.deepEqual([...sizes].sort((a, b) => a - b), [3, 19, 26], 'rows of each size');
  assert.ok(accepted.length > 3000 && late > 100, `${accepted.length} accepted, ${late} late`);
});
