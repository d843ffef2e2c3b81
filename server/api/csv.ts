import type { FastifyRequest } from 'fastify';
import { negotiate } from './accept.ts';

/** Whether the client asked for CSV rather than JSON (accept.ts: its quality, or named first at equal quality). */
export function wantsCsv(req: FastifyRequest): boolean {
  return negotiate(req.headers.accept, ['application/json', 'text/csv']) === 'text/csv';
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : String(v);
  // RFC 4180: quote a field holding a comma, a quote or a line break; double the quotes.
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** RFC 4180 CSV with a header line, CRLF line ends; null is an empty field. */
export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const lines = [columns.join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}
