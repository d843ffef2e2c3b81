/**
 * What a --replay run says before it starts about a recording the server would take otherwise than its maker meant
 * (the summary, acknowledged and lost, cannot show it): fields the server does not read, values it rejects, times it
 * refuses or counts as late, temperatures that are not °C. replay.ts loads the recording; replay-times.ts names the
 * times.
 */
import { DEFAULT_LATENESS_MS, named, NUMBER, serverTakesTs, type Recording } from './replay.ts';
import { optionReadsTs, timestampWarnings } from './replay-times.ts';
import type { Reading } from './reading.ts';

/**
 * What the run should say before it starts, since the summary (acknowledged, lost) cannot show it: a recording without
 * a ts or a temperature field in any record (a column named `timestamp` or `temp`, say: the server reads neither) is
 * dated at its arrival, or rejected whole; one out of time order by more than the server's default allowed lateness
 * has records the server counts as late (kept, in no window).
 */
export function replayWarnings(recording: Recording): string[] {
  const fields = new Set(recording.records.flatMap((r) => Object.keys(r.recorded ?? {})));
  const other = (like: RegExp, wanted: string): string => {
    const found = [...fields].filter((f) => f !== wanted && like.test(f));
    if (found.length === 0) return '';
    const which = found.length === 1 ? found[0] : '…';
    return `; its ${found.length === 1 ? 'field' : 'fields'} ${found.map((f) => JSON.stringify(f)).join(', ')} ${found.length === 1 ? 'is' : 'are'} not read as one: map it with --fields ${wanted}=${which}`;
  };
  const warnings: string[] = [];
  if (recording.skippedHeader !== null) {
    warnings.push(`--replay ${recording.file}: line ${recording.skippedHeader} names the columns of --columns, a header row: skipped, not sent as a record`);
  }
  if (!recording.records.some((r) => r.recorded?.ts != null)) {
    warnings.push(`--replay ${recording.file}: no record has a ts, so the server dates each at its arrival (now), not when it was recorded${other(/time|date|stamp|epoch/i, 'ts')} (ISO 8601 with a zone, or epoch milliseconds)`);
  }
  const noTemperature = !recording.records.some((r) => r.recorded?.temperature !== undefined); // null: named below
  if (noTemperature) {
    warnings.push(`--replay ${recording.file}: no record has a temperature, so the server rejects every one (missing_temperature, GET /api/v1/dead-letters)${other(/temp/i, 'temperature')} (°C)`);
  }
  // A value as text (Home Assistant's "unavailable", or a number in quotes, "21.5", in JSON) or a null temperature
  // (pandas' NaN in JSON): the server rejects the record (wrong_type, non_finite_temperature), which the summary
  // (acknowledged) cannot show. A null humidity is no humidity to it.
  const rejected = (f: 'temperature' | 'humidity', v: unknown) => typeof v === 'string' || (f === 'temperature' && v === null);
  const text = recording.records.flatMap((r) => (['temperature', 'humidity'] as const).filter((f) => rejected(f, r.recorded?.[f])).slice(0, 1).map((f) => ({ line: r.line, f, value: r.recorded?.[f] as string | null })));
  if (text.length > 0 && !noTemperature) {
    const nulls = text.some((x) => x.value === null);
    const kind = nulls && text.some((x) => x.value !== null) ? 'text or null' : nulls ? 'null' : 'text';
    const quoted = text.some((x) => x.value !== null && NUMBER.test(x.value.trim())) ? ' (a number in quotes too)' : ''; // JSON's "21.5": a CSV cell of a number is one
    warnings.push(
      `--replay ${recording.file}: ${text.length.toLocaleString('en-US')} of its ${recording.records.length.toLocaleString('en-US')} records ${text.length === 1 ? 'has' : 'have'} a temperature or humidity that is ${kind}, ` +
        `not a number${quoted}, which the server rejects (GET /api/v1/dead-letters): ${named(text.map((x) => `line ${x.line} (${x.f} ${JSON.stringify(x.value)})`))}`,
    );
  }
  const unit = temperatureUnitHint(recording.records);
  if (unit !== null) {
    warnings.push(`--replay ${recording.file}: its temperatures look like ${unit.name}, not °C (median ${unit.median}), which the server would take as °C (by default each one above 50 °C a threshold anomaly): if they are in ${unit.name}, say so with --temperature-unit ${unit.option}`);
  }
  // Zoneless times and epoch seconds: named with the option that reads them (--ts-zone, --ts-unit s); any other
  // refused ts by its lines.
  warnings.push(...timestampWarnings(recording.file, recording.records));
  const refused = recording.records.filter((r) => r.recorded?.ts != null && !serverTakesTs(r.recorded.ts) && !optionReadsTs(r.recorded.ts));
  if (refused.length > 0) {
    const n = refused.length === recording.records.length ? `all ${refused.length}` : `${refused.length} of its ${recording.records.length}`;
    warnings.push(
      `--replay ${recording.file}: ${n} records ${refused.length === 1 ? 'has' : 'have'} a ts the server refuses (bad_timestamp, GET /api/v1/dead-letters): ` +
        `${named(refused.map((r) => `line ${r.line} (${JSON.stringify(r.recorded?.ts)})`))}; it takes ISO 8601 with a zone (2026-11-24T10:00:00Z) or epoch milliseconds`,
    );
  }
  const order = orderWarning(recording);
  return order === null ? warnings : [...warnings, order];
}

/**
 * The unit a recording's temperatures look like when it is not °C: a median above 45 (a thermostat's room at 45 °C is
 * rare; 45 °F is 7 °C) in °F, above 200 in kelvins. Lower °F medians cannot be told from °C, and are not named.
 */
function temperatureUnitHint(records: readonly Reading[]): { name: string; option: string; median: number } | null {
  const values = records.map((r) => r.recorded?.temperature).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (values.length === 0) return null;
  const median = values[values.length >> 1];
  if (median > 200 && median < 400) return { name: 'kelvins', option: 'k', median };
  if (median > 45 && median <= 200) return { name: '°F', option: 'f', median };
  return null;
}

function orderWarning(recording: Recording): string | null {
  const b = recording.back;
  if (b === null || b.behind === 0) return null;
  const s = (ms: number) => `${(ms / 1000).toLocaleString('en-US', { maximumFractionDigits: 3 })} s`;
  return (
    `--replay ${recording.file} is not in time order: line ${b.line} (${new Date(b.ts).toISOString()}) is ${s(b.newest - b.ts)} behind ` +
    `the newest record before it (${new Date(b.newest).toISOString()}), and ${b.behind.toLocaleString('en-US')} of its ${recording.records.length.toLocaleString('en-US')} ` +
    `records ${b.behind === 1 ? 'is' : 'are'} more than ${s(DEFAULT_LATENESS_MS)} behind one before them: a server with the default allowed lateness counts such records ` +
    `as late (GET /api/v1/stats, "late"; kept, in no window). Sort it by ts, or raise the server's allowedLatenessMs (docs/SIMULATOR.md, "Replaying a recording")`
  );
}
