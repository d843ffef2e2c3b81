import type { FastifyRequest } from 'fastify';

/** The quality an Accept header gives a media type named in it ([RFC 9110 12.5.1]; 1 without q), or -1 if unnamed. */
function quality(accept: string, type: string): number {
  for (const range of accept.split(',')) {
    const [name, ...params] = range.split(';').map((p) => p.trim());
    if (name !== type) continue;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined ? 1 : Number(q.slice(2)) || 0;
  }
  return -1;
}

/** Whether the client asked for CSV: `text/csv` of a higher quality than JSON, or equal and named first. */
export function wantsCsv(req: FastifyRequest): boolean {
  const accept = (req.headers.accept ?? '').toLowerCase();
  const csv = quality(accept, 'text/csv');
  const json = quality(accept, 'application/json');
  return csv > 0 && (csv > json || (csv === json && accept.indexOf('text/csv') < accept.indexOf('application/json')));
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
