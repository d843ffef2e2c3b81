import assert from 'node:assert/strict';
import { test } from 'node:test';

process.env.TZ = 'Asia/Kolkata'; // before any date is formatted: the dashboard formats in the browser's zone
const { fmtWhen } = await import('../dashboard/src/format.ts');

test("a device's anomaly of an earlier day shows its day, not its time alone (the 24 h range spans two days)", () => {
  const now = Date.parse('2026-12-05T13:00:00Z'); // 18:30 on 5 Dec in Kolkata
  assert.equal(fmtWhen(Date.parse('2026-12-05T02:00:00Z'), now), '07:30:00'); // today, in Kolkata
  assert.equal(fmtWhen(Date.parse('2026-12-04T19:00:00Z'), now), '00:30:00'); // 4 Dec in UTC, today here
  assert.equal(fmtWhen(Date.parse('2026-12-04T18:00:00Z'), now), '4 Dec, 23:30:00'); // yesterday here
});
