import assert from 'node:assert/strict';
import { test } from 'node:test';

process.env.TZ = 'Asia/Kolkata'; // before any date is formatted: the dashboard formats in the browser's zone
const { fmtAnomalyWhen, fmtDuration, fmtWhen } = await import('../dashboard/src/format.ts');

test("a device's anomaly of an earlier day shows its day, not its time alone (the 24 h range spans two days)", () => {
  const now = Date.parse('2026-12-05T13:00:00Z'); // 18:30 on 5 Dec in Kolkata
  assert.equal(fmtWhen(Date.parse('2026-12-05T02:00:00Z'), now), '07:30:00'); // today, in Kolkata
  assert.equal(fmtWhen(Date.parse('2026-12-04T19:00:00Z'), now), '00:30:00'); // 4 Dec in UTC, today here
  assert.equal(fmtWhen(Date.parse('2026-12-04T18:00:00Z'), now), '4 Dec, 23:30:00'); // yesterday here
});

test("an interval anomaly shows when it started and ended and how long it lasted; an open one runs to now; a point anomaly its moment", () => {
  const now = Date.parse('2026-12-05T13:00:00Z'); // 18:30 in Kolkata
  const ts = '2026-12-05T12:00:00.000Z';
  assert.equal(fmtAnomalyWhen({ ts, start: null, end: null }, now), '17:30:00');
  assert.equal(fmtAnomalyWhen({ ts, start: ts, end: '2026-12-05T12:00:30.000Z' }, now), '17:30:00 – 17:30:30 (30 s)');
  assert.equal(fmtAnomalyWhen({ ts, start: ts, end: null }, now), '17:30:00 – now (1 h)');
  // Over midnight here: the end says its day.
  assert.equal(fmtAnomalyWhen({ ts: '2026-12-04T18:00:00Z', start: '2026-12-04T18:00:00Z', end: '2026-12-04T18:45:00Z' }, now), '4 Dec, 23:30:00 – 5 Dec, 00:15:00 (45 min)');
});

test('durations in words: seconds, minutes and seconds, hours and minutes, days and hours; never below 0', () => {
  const cases: [number, string][] = [[0, '0 s'], [4_600, '5 s'], [60_000, '1 min'], [135_000, '2 min 15 s'], [3_600_000, '1 h'], [11_100_000, '3 h 5 min'], [187_200_000, '2 d 4 h'], [172_800_000, '2 d'], [-5_000, '0 s']];
  for (const [ms, want] of cases) assert.equal(fmtDuration(ms), want, String(ms));
});
