import { isIP } from 'node:net';
/**
 * A host name's host, without its port or an IPv6 address's brackets: `[::1]:8883` is `::1`, `hub.example.com:8884`
 * is `hub.example.com`, and a bare IPv6 address (`fe80::1`) is itself.
 */
export function hostWithoutPort(hostName: string): string {
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(hostName);
  if (bracketed) return bracketed[1];
  return isIP(hostName) === 6 ? hostName : hostName.replace(/:\d+$/, '');
}

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

/**
 * "not a URL", and why when it is the usual slip: a user name or password holding "/", "?" or "#", which end that
 * part of a URL unless percent-encoded. The message shows the URL with its password hidden, which then looks right.
 */
export function notAUrl(raw: string): string {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/(.*)@/i.exec(raw)?.[1]; // up to the last "@"
  const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#]*@)?(?:\[[^\]]*\]|[^/?#:@]*):(\d+)(?:[/?#]|$)/i.exec(raw)?.[1];
  if (port !== undefined && Number(port) > 65535) return `not a URL: port ${port} is above 65535`;
  if (userinfo === undefined || !/[/?#]/.test(userinfo)) return 'not a URL';
  return 'not a URL (its user name or password holds "/", "?" or "#": percent-encode them there, as %2F, %3F and %23; "@" as %40, "%" as %25)';
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::(\\d{1,5}))?$`);

/**
 * Why `hostName` cannot be a connection string's HostName, or undefined. It is what a device dials and signs into
 * its tokens: a DNS name or IP address, optionally `:port`; a `;` or `=` would break the string's `key=value;` form.
 */
export function hostNameProblem(hostName: string): string | undefined {
  const m = HOST_NAME.exec(hostName);
  if (m === null || hostName.length - (m[1] === undefined ? 0 : m[1].length + 1) > 253) {
    return 'not a host name: a DNS name or IP address, optionally :port (e.g. myhub.azure-devices.net or localhost:8884)';
  }
  if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)) return `port ${m[1]} is not from 1 to 65535`;
  return undefined;
}

/** HostName devices are given: the configured one, else localhost with the TLS port unless it is IoT Hub's 8883. */
export function defaultHostName(configured: string, tlsPort: number | null): string {
  if (configured !== '') return configured;
  return tlsPort === null || tlsPort <= 0 || tlsPort === 8883 ? 'localhost' : `localhost:${tlsPort}`;
}
