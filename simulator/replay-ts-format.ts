/**
 * --ts-format: how a recording writes its times when not as ISO 8601 — day first (08-12-2018 09:30, many public
 * datasets), month first (3/1/2024 1:05:00 PM, US spreadsheets). Such a time is ambiguous (08-12 is 8 December or
 * 12 August), so the replay never guesses: without the option it names the two formats it could be.
 */
import { parseIsoDate } from '../server/ingest/reading-rules.ts';
import { invalidOption } from './errors.ts';

/** The tokens, each at most once; any other character is itself. */
const TOKENS = {
  YYYY: '(\\d{4})',
  SSS: '(\\d{1,9})', // a fraction of a second, as many digits as written
  MM: '(\\d{1,2})',
  DD: '(\\d{1,2})',
  HH: '(\\d{1,2})',
  mm: '(\\d{2})',
  ss: '(\\d{2})',
  A: '([AaPp][Mm])',
} as const;
type Token = keyof typeof TOKENS;

export interface TsFormat {
  /** As given. */
  readonly text: string;
  readonly pattern: RegExp;
  /** The tokens in the order of the pattern's groups. */
  readonly tokens: readonly Token[];
}

/** What a token needs besides: a time of minutes has hours, and so on. */
const NEEDS: Partial<Record<Token, Token>> = { mm: 'HH', ss: 'mm', SSS: 'ss', A: 'HH' };

export const TS_FORMAT_EXPECTED = 'a time format of the tokens YYYY MM DD HH mm ss SSS A (AM/PM: HH is then 1 to 12) and the characters between them, e.g. "DD-MM-YYYY HH:mm" or "MM/DD/YYYY HH:mm:ss A"';

export function parseTsFormat(text: string): TsFormat {
  const tokens: Token[] = [];
  let pattern = '';
  for (let i = 0; i < text.length; ) {
    const token = (Object.keys(TOKENS) as Token[]).find((k) => text.startsWith(k, i));
    if (token === undefined) {
      pattern += text[i].replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i++;
      continue;
    }
    if (tokens.includes(token)) throw invalidOption('ts-format', text, `${TS_FORMAT_EXPECTED}; it has ${token} twice`);
    tokens.push(token);
    pattern += TOKENS[token];
    i += token.length;
  }
  for (const required of ['YYYY', 'MM', 'DD'] as const) {
    if (!tokens.includes(required)) throw invalidOption('ts-format', text, `${TS_FORMAT_EXPECTED}; it has no ${required}`);
  }
  for (const token of tokens) {
    const needed = NEEDS[token];
    if (needed !== undefined && !tokens.includes(needed)) throw invalidOption('ts-format', text, `${TS_FORMAT_EXPECTED}; it has ${token} without ${needed}`);
  }
  return { text, pattern: new RegExp(`^${pattern}$`), tokens };
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The wall time a value written in the format holds, as ISO 8601's date and time (`2018-12-08`, `09:30`), or what is
 * wrong with it.
 */
export function readTsFormat(format: TsFormat, value: string): { date: string; time: string } | string {
  const m = format.pattern.exec(value);
  if (m === null) return `ts ${JSON.stringify(value)} does not match --ts-format ${JSON.stringify(format.text)}`;
  const part = (token: Token): string | undefined => {
    const i = format.tokens.indexOf(token);
    return i < 0 ? undefined : m[i + 1];
  };
  const [year, month, day] = [Number(part('YYYY')), Number(part('MM')), Number(part('DD'))];
  let hour = Number(part('HH') ?? 0);
  const [minute, second] = [Number(part('mm') ?? 0), Number(part('ss') ?? 0)];
  const ampm = part('A')?.toUpperCase();
  if (ampm !== undefined) hour = hour < 1 || hour > 12 ? NaN : (hour % 12) + (ampm === 'PM' ? 12 : 0);
  const date = `${String(year).padStart(4, '0')}-${pad(month)}-${pad(day)}`;
  // The day by the server's own calendar (leap years, 30 February), the time by its ranges.
  if (Number.isNaN(parseIsoDate(date)) || !(hour <= 23 && minute <= 59 && second <= 59)) return `ts ${JSON.stringify(value)} is no such time`;
  const fraction = part('SSS');
  const time = `${pad(hour)}:${pad(minute)}${part('ss') === undefined ? '' : `:${pad(second)}${fraction === undefined ? '' : `.${fraction}`}`}`;
  return { date, time };
}

/** A date whose day and month could be either way round, with or without a time: 08-12-2018 09:30, 3/1/2024 1:05:00 PM. */
const DAY_OR_MONTH = /^\d{1,2}([-/.])\d{1,2}\1\d{4}(?:([ T])\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?( ?)([AaPp][Mm])?)?$/;

export const isDayOrMonthFirst = (ts: unknown): boolean => typeof ts === 'string' && DAY_OR_MONTH.test(ts.trim());

/** The two formats such a time could be written in: day first, month first. */
export function formatsOf(ts: string): [string, string] {
  const m = DAY_OR_MONTH.exec(ts.trim());
  if (m === null) return ['DD-MM-YYYY HH:mm', 'MM-DD-YYYY HH:mm'];
  const [, sep, t, seconds, fraction, space, ampm] = m;
  const time = t === undefined ? '' : `${t}HH:mm${seconds === undefined ? '' : ':ss'}${fraction === undefined ? '' : '.SSS'}${ampm === undefined ? '' : `${space}A`}`;
  return [`DD${sep}MM${sep}YYYY${time}`, `MM${sep}DD${sep}YYYY${time}`];
}
