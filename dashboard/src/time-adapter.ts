// chart.js's time scale needs a date adapter; this one is a few lines of Date arithmetic in the browser's time
// zone, instead of a date library in the bundle.
import { _adapters, type TimeUnit } from 'chart.js';

const MS: Record<string, number> = { millisecond: 1, second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };

const FORMATS: Record<string, Intl.DateTimeFormatOptions> = {
  datetime: { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' },
  millisecond: { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3 },
  second: { hour: '2-digit', minute: '2-digit', second: '2-digit' },
  minute: { hour: '2-digit', minute: '2-digit' },
  hour: { hour: '2-digit', minute: '2-digit' },
  day: { month: 'short', day: 'numeric' },
  week: { month: 'short', day: 'numeric' },
  month: { month: 'short', year: 'numeric' },
  quarter: { month: 'short', year: 'numeric' },
  year: { year: 'numeric' },
};
const formatters = new Map<string, Intl.DateTimeFormat>();

function months(unit: TimeUnit): number {
  return unit === 'month' ? 1 : unit === 'quarter' ? 3 : unit === 'year' ? 12 : 0;
}

function startOf(time: number, unit: TimeUnit | 'isoWeek', weekday?: number | boolean): number {
  const d = new Date(time);
  switch (unit) {
    case 'millisecond':
      return time;
    case 'second':
      return d.setMilliseconds(0);
    case 'minute':
      return d.setSeconds(0, 0);
    case 'hour':
      return d.setMinutes(0, 0, 0);
    case 'day':
      return d.setHours(0, 0, 0, 0);
    case 'week':
    case 'isoWeek': {
      const first = unit === 'isoWeek' ? (typeof weekday === 'number' ? weekday : 1) : 0;
      d.setHours(0, 0, 0, 0);
      return d.setDate(d.getDate() - ((d.getDay() - first + 7) % 7));
    }
    case 'month':
      d.setHours(0, 0, 0, 0);
      return d.setDate(1);
    case 'quarter':
      d.setHours(0, 0, 0, 0);
      d.setDate(1);
      return d.setMonth(d.getMonth() - (d.getMonth() % 3));
    case 'year':
      d.setHours(0, 0, 0, 0);
      return d.setMonth(0, 1);
  }
}

function add(time: number, amount: number, unit: TimeUnit): number {
  const m = months(unit);
  if (m === 0) return time + amount * MS[unit];
  const d = new Date(time);
  return d.setMonth(d.getMonth() + amount * m);
}

_adapters._date.override({
  formats: () => Object.fromEntries(Object.keys(FORMATS).map((k) => [k, k])) as Record<'datetime' | TimeUnit, string>,
  parse(value: unknown): number | null {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number') return value;
    if (value instanceof Date) return value.getTime();
    const t = Date.parse(String(value));
    return Number.isNaN(t) ? null : t;
  },
  format(time: number, format: string): string {
    let f = formatters.get(format);
    if (f === undefined) {
      f = new Intl.DateTimeFormat('en-GB', { hour12: false, ...(FORMATS[format] ?? FORMATS.datetime) });
      formatters.set(format, f);
    }
    return f.format(time);
  },
  add,
  diff(a: number, b: number, unit: TimeUnit): number {
    const m = months(unit);
    if (m === 0) return (a - b) / MS[unit];
    const da = new Date(a);
    const db = new Date(b);
    return ((da.getFullYear() - db.getFullYear()) * 12 + da.getMonth() - db.getMonth()) / m;
  },
  startOf,
  endOf: (time: number, unit: TimeUnit) => add(startOf(time, unit), 1, unit) - 1,
});
