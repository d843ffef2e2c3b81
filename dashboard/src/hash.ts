// The hash router's decoding, apart from the DOM so that it is tested on its own.

/**
 * The hash's text, percent-decoded part by part: the parts are what lies between `/`, `?`, `&` and `=`, which are
 * kept as they are. A typed or truncated link's stray `%` (`#/devices/50%`) is not percent-encoding: that part is
 * taken as written, not thrown, and the rest of the link (its range and window) is still read.
 */
export function decoded(s: string): string {
  return s.split(/([/?&=])/).map((part, i) => (i % 2 === 1 ? part : decodedPart(part))).join('');
}

function decodedPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The overview's device table as its link holds it: what is given of it (device-table.ts checks the values). */
export interface TableQuery {
  filter?: string;
  status?: string;
  sortKey?: string;
  ascending?: boolean;
  /** 0-based; the link's `page` counts from 1. */
  page?: number;
}

/**
 * The device table's state in the overview's link, `#/?filter=hall&status=online&sort=-lastSeen&page=2` (a `-` sorts
 * descending), read from the raw hash (location.hash without `#`): a reload or a shared link shows the same rows.
 */
export function tableQuery(hash: string): TableQuery {
  const m = /^\/?\?(.*)$/.exec(hash);
  if (m === null) return {};
  const q = new URLSearchParams(m[1]);
  const out: TableQuery = {};
  const filter = q.get('filter');
  if (filter !== null) out.filter = filter;
  const status = q.get('status');
  if (status !== null) out.status = status;
  const sort = q.get('sort');
  if (sort !== null && sort !== '' && sort !== '-') Object.assign(out, { sortKey: sort.replace(/^-/, ''), ascending: !sort.startsWith('-') });
  const page = Number(q.get('page'));
  if (Number.isInteger(page) && page >= 1) out.page = page - 1;
  return out;
}

/** The link of the table's state (tableQuery's inverse), defaults left out: `#/` for the table as it first shows. */
export function tableHash(s: Required<TableQuery>, defaults: Required<TableQuery>): string {
  const q = new URLSearchParams();
  if (s.filter !== defaults.filter) q.set('filter', s.filter);
  if (s.status !== defaults.status) q.set('status', s.status);
  if (s.sortKey !== defaults.sortKey || s.ascending !== defaults.ascending) q.set('sort', `${s.ascending ? '' : '-'}${s.sortKey}`);
  if (s.page !== defaults.page) q.set('page', String(s.page + 1));
  const query = q.toString();
  return query === '' ? '#/' : `#/?${query}`;
}
