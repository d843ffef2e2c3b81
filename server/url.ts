/** The host part of a URL for a bound address: wildcard binds are reached via localhost, IPv6 goes in brackets. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** Whether binding `host` keeps a listener reachable from this machine only. */
export const isLoopback = (host: string): boolean => LOOPBACK.test(host);
