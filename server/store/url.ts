/**
 * store.url: "" (SQLite in the data dir) or postgres://user:password@host:port/database (also postgresql://).
 * Checked at start-up; messages name the URL without its password.
 */
import { notAUrl } from '../url.ts';

/** The reason a store URL is refused, or null when it is usable. */
export function storeUrlProblem(url: string): string | null {
  if (url === '') return null;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${notAUrl(url)}: expected "" (SQLite in the data dir) or postgres://user:password@host:port/database`;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    return `unsupported scheme ${u.protocol}: expected "" (SQLite in the data dir) or postgres://user:password@host:port/database`;
  }
  if (u.hostname === '' && !u.searchParams.has('host')) return 'no host: expected postgres://user:password@host:port/database';
  if (u.pathname.length <= 1) return 'no database name: expected postgres://user:password@host:port/database';
  return null;
}
