import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ANOMALY_TYPES, type Anomaly, type AnomalyType } from '../engine/detectors/index.ts';
import type { WindowResult } from '../engine/index.ts';
import { IGNORED_FIELDS, type BatchBody as RunnerBatchBody } from '../jobs/index.ts';
import { iso, isoOrNull } from './params.ts';

/** Response schemas shared by several routes (fastify serializes with them; @fastify/swagger documents them). */

const Time = (description: string) => Type.String({ format: 'date-time', description });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Error code (docs/ERRORS.md), e.g. TS_ERR_QUERY_PARAM.' }),
    message: Type.String({ description: 'What was wrong, naming the parameter, its value and what was expected.' }),
    parameter: Type.Optional(Type.String({ description: 'The offending parameter (400) or path parameter (404).' })),
    value: Type.Optional(Nullable(Type.String({ description: 'Its value as sent; null when missing.' }))),
    field: Type.Optional(Type.String({ description: 'The offending field of a job (Livy batch) request body.' })),
  },
  { $id: 'Error', title: 'Error' },
);

/** 400 and 404 answers, for routes' `response`. */
export const errors = { 400: Type.Ref(ErrorBody), 404: Type.Ref(ErrorBody) };
export const badRequest = { 400: Type.Ref(ErrorBody) };

const Temperature = (description: string) => Nullable(Type.Number({ description: `${description} °C; null when the window has no reading.` }));

export const WindowItem = Type.Object(
  {
    deviceId: Type.String({ description: 'The device, or * for fleet-wide windows.' }),
    start: Time('Window start (inclusive).'),
    end: Time('Window end (exclusive).'),
    lengthMs: Type.Integer(),
    slideMs: Type.Integer(),
    count: Type.Integer({ description: 'Readings in the window (0 for a window that only holds an anomaly, e.g. a dropout).' }),
    avg: Temperature('Mean temperature,'),
    min: Temperature('Lowest temperature,'),
    max: Temperature('Highest temperature,'),
    stddev: Temperature('Population standard deviation of the temperature,'),
    first: Temperature('Temperature of the reading with the earliest ts,'),
    last: Temperature('Temperature of the reading with the latest ts,'),
    humidityAvg: Nullable(Type.Number({ description: '%RH; null when no reading had humidity.' })),
    humidityMin: Nullable(Type.Number()),
    humidityMax: Nullable(Type.Number()),
    humidityStddev: Nullable(Type.Number()),
    humidityFirst: Nullable(Type.Number()),
    humidityLast: Nullable(Type.Number()),
    anomalies: Type.Integer({ description: 'Anomalies dated in the window, all types.' }),
    anomaliesByType: Type.Object(
      Object.fromEntries(ANOMALY_TYPES.map((t) => [t, Type.Integer()])) as Record<AnomalyType, ReturnType<typeof Type.Integer>>,
      { description: 'Anomalies dated in the window by type (see GET /api/v1/anomalies and docs/ANALYTICS.md).' },
    ),
    final: Type.Boolean({ description: 'The watermark has passed the end: the result will not change.' }),
  },
  { $id: 'Window', title: 'Window' },
);

/** The CSV form's columns: the scalar fields, then one `anomalies.{type}` column per anomaly type. */
export const WINDOW_CSV_COLUMNS = [
  ...Object.keys(WindowItem.properties).filter((k) => k !== 'anomaliesByType' && k !== 'final'),
  ...ANOMALY_TYPES.map((t) => `anomalies.${t}`),
  'final',
];

export function windowItem(w: WindowResult): Record<string, unknown> {
  return {
    deviceId: w.deviceId,
    start: iso(w.start),
    end: iso(w.end),
    lengthMs: w.lengthMs,
    slideMs: w.slideMs,
    count: w.count,
    avg: w.avg,
    min: w.min,
    max: w.max,
    stddev: w.stddev,
    first: w.first,
    last: w.last,
    humidityAvg: w.humidityAvg,
    humidityMin: w.humidityMin,
    humidityMax: w.humidityMax,
    humidityStddev: w.humidityStddev,
    humidityFirst: w.humidityFirst,
    humidityLast: w.humidityLast,
    anomalies: w.anomalies,
    anomaliesByType: w.anomaliesByType,
    final: w.final,
  };
}

/** A window as a CSV row (see WINDOW_CSV_COLUMNS). */
export function windowCsvRow(w: WindowResult): Record<string, unknown> {
  const row = windowItem(w);
  for (const t of ANOMALY_TYPES) row[`anomalies.${t}`] = w.anomaliesByType[t];
  return row;
}

export const AnomalyItem = Type.Object(
  {
    deviceId: Type.String(),
    type: Type.String({ enum: [...ANOMALY_TYPES], description: 'The detector (docs/ANALYTICS.md).' }),
    ts: Time('Event time the anomaly is dated at: the reading\'s ts, or an interval\'s start (a dropout: when the device was due).'),
    score: Type.Number({ description: 'How far past its threshold, in the detector\'s own unit.' }),
    value: Nullable(Type.Number({ description: 'The reading (°C); for drift the smoothed value; null for a dropout.' })),
    expected: Nullable(Type.Number({ description: 'What the detector expected instead (°C; for a dropout the learned interval in ms).' })),
    threshold: Nullable(Type.Number({ description: 'The limit the value crossed, in the unit of value/expected.' })),
    start: Nullable(Time('Interval anomalies (stuck, drift, dropout): first event time; null for point anomalies.')),
    end: Nullable(Time('Interval anomalies: last event time; null while it lasts (or for point anomalies).')),
    detectedAt: Time('Event time at which it was detected.'),
  },
  { $id: 'Anomaly', title: 'Anomaly' },
);

export function anomalyItem(a: Anomaly): Record<string, unknown> {
  return {
    deviceId: a.deviceId,
    type: a.type,
    ts: iso(a.ts),
    score: a.score,
    value: a.value,
    expected: a.expected,
    threshold: a.threshold,
    start: isoOrNull(a.start),
    end: isoOrNull(a.end),
    detectedAt: iso(a.detectedAt),
  };
}

export const Next = Nullable(
  Type.String({ description: 'Pass as `cursor` to get the next page; null on the last page.' }),
);

/** The 200 of a paged list that answers JSON or, with `Accept: text/csv`, CSV with the next cursor in a header. */
export function pageOrCsv(description: string, page: TSchema, csvColumns: readonly string[]) {
  return {
    description,
    headers: {
      'x-next-cursor': { type: 'string', description: 'CSV answers only: the next page\'s cursor (pass as `cursor`); absent on the last page.' },
    },
    content: {
      'application/json': { schema: page },
      'text/csv': { schema: Type.String({ description: `Columns: ${csvColumns.join(',')}` }) },
    },
  };
}

/**
 * A Livy batch request (https://livy.apache.org/docs/latest/rest-api.html#batch), the body of POST /livy/batches
 * and POST /api/v1/jobs. Optional fields may be null. `x-expected` is the text of the 400 naming a bad field. What a
 * schema cannot say (the file inside jobs.dirs, driverMemory from 32m to 64g) the job runner checks.
 */
const nullable = <T extends TSchema>(schema: T, description: string, expected: string) =>
  Type.Optional(Type.Union([schema, Type.Null()], { description, 'x-expected': expected }));

export const BatchBody = Type.Object(
  {
    file: Type.String({
      minLength: 1,
      description: 'The job module (.ts, .mts, .js, .mjs) inside a jobs directory (jobs.dirs); `local:` and `file:` forms are accepted.',
      'x-expected': 'the path of a job module inside a jobs directory',
    }),
    className: nullable(
      Type.String({ pattern: '^[A-Za-z_$][\\w$]*$' }),
      'The exported function to run. Default: the module\'s default export.',
      'the name of an exported function (default: the default export)',
    ),
    args: nullable(Type.Array(Type.String()), 'Arguments passed to the job function.', 'an array of strings'),
    name: nullable(Type.String({ maxLength: 256 }), 'A name for the job.', 'a string of at most 256 characters'),
    conf: nullable(
      Type.Object({}, { additionalProperties: Type.Union([Type.String(), Type.Number(), Type.Boolean()]) }),
      'Settings the job reads as job.conf (its second argument).',
      'an object of string, number or boolean values',
    ),
    driverMemory: nullable(
      Type.String({ pattern: '^\\s*\\d+\\s*[kKmMgGtT]?[bB]?\\s*$' }),
      'The job\'s heap limit, as a JVM size ("512m", "1g"; a bare number is bytes), from 32m to 64g. Default: jobs.driverMemory.',
      'a size such as "512m" or "1g"',
    ),
    ...Object.fromEntries(
      IGNORED_FIELDS.map((f) => [f, Type.Optional(Type.Unknown({ description: 'Configures a Spark cluster: accepted and reported in the job\'s log, not used.' }))]),
    ),
  },
  { additionalProperties: false },
);

/** What the schema lets through; the job runner takes it (checked here, at compile time). */
export type BatchBody = Static<typeof BatchBody>;
const _fits = (body: BatchBody): RunnerBatchBody => body;
void _fits;

/** Every shared schema, added to fastify once so that routes can $ref them. */
export const SHARED_SCHEMAS = [ErrorBody, WindowItem, AnomalyItem];
