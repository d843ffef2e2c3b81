// Number and time formatting, one place.

export const fmtTemp = (v: number | null | undefined): string => (v == null || !Number.isFinite(v) ? '–' : `${v.toFixed(1)} °C`);
export const fmtNum = (v: number | null | undefined, digits = 0): string =>
  v == null || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const fmtMs = (v: number | null | undefined): string => {
  if (v == null || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 60_000) return `${(v / 60_000).toFixed(1)} min`;
  if (Math.abs(v) >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  return `${Math.round(v)} ms`;
};
/**
 * The browser's time zone, which every time on the page is shown in (the API's are UTC): its offset at `at`,
 * "UTC+5:30", "UTC-5", "UTC".
 */
export function zoneOffset(at = Date.now()): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'shortOffset' }).formatToParts(at).find((p) => p.type === 'timeZoneName');
  return (part?.value ?? 'GMT').replace(/^GMT/, 'UTC');
}
/** The zone by name and offset, "Asia/Kolkata, UTC+5:30", or "UTC" alone: what a time axis is labelled with. */
export function zoneLabel(at = Date.now()): string {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const offset = zoneOffset(at);
  return /^(Etc\/)?(UTC|GMT|Universal|Zulu)$/.test(name ?? '') || !name ? offset : `${name}, ${offset}`;
}
export const fmtTime = (ms: number): string => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
export const fmtDateTime = (ms: number): string =>
  new Date(ms).toLocaleString('en-GB', { hour12: false, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** A moment in a list that may span days (a device's anomalies over 24 h): the time alone if it is today, else with its day. */
export function fmtWhen(ms: number, now = Date.now()): string {
  return new Date(ms).toDateString() === new Date(now).toDateString() ? fmtTime(ms) : fmtDateTime(ms);
}

/**
 * When an anomaly was: a point anomaly's moment; an interval's (stuck, drift, dropout) start – end and how long it
 * lasted, "– now" while it is open. The end shows its day only where it is not the start's.
 */
export function fmtAnomalyWhen(a: { ts: string; start?: string | null; end?: string | null }, now = Date.now()): string {
  if (a.start == null) return fmtWhen(Date.parse(a.ts), now);
  const start = Date.parse(a.start);
  const end = a.end == null ? null : Date.parse(a.end);
  const until = end === null ? 'now' : new Date(end).toDateString() === new Date(start).toDateString() ? fmtTime(end) : fmtDateTime(end);
  return `${fmtWhen(start, now)} – ${until} (${fmtDuration((end ?? now) - start)})`;
}

/** How long something lasted: "45 s", "2 min 15 s", "3 h 5 min", "2 d 4 h" (never below 0: a clock ahead). */
export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return s % 60 > 0 ? `${m} min ${s % 60} s` : `${m} min`;
  return `${s} s`;
}

/** "3 s ago", "5 min ago": how long since a device reported. */
export function fmtAgo(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** 10000/2000 → "10 s every 2 s". */
export function fmtWindow(w: { lengthMs: number; slideMs: number }): string {
  const d = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
  return `${d(w.lengthMs)} every ${d(w.slideMs)}`;
}

/** Where a window is drawn on a time axis: its middle, where the readings it averages are centred. */
export const mid = (w: { start: string; end: string }): number => (Date.parse(w.start) + Date.parse(w.end)) / 2;

/** An anomaly's expected value: °C, except a dropout's, which is the device's usual interval in ms (docs/ANALYTICS.md). */
export const fmtExpected = (a: { type: string; expected: number | null }): string => (a.type === 'dropout' ? `every ${fmtMs(a.expected)}` : fmtTemp(a.expected));
