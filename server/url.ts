/** The host part of a URL for a bound address: wildcard binds are reached via localhost, IPv6 goes in brackets. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** Whether binding `host` keeps a listener reachable from this machine only. */
export const isLoopback = (host: string): boolean => LOOPBACK.test(host);

/**
 * A URL with its password replaced by ***, for messages and logs (store.url, broker.url). A URL that does not parse
 * (a password with an unencoded `/`, say) still loses everything between the user name and the last `@`.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '' && !u.searchParams.has('password')) return url; // as given: nothing to hide
    if (u.password !== '') u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^]*@(?=[^@]*$)/i, '$1:***@');
  }
}
