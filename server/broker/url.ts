/**
 * broker.url: mqtt://[user:password@]host[:port] or mqtts://…. Checked with the rest of the configuration at start-up
 * (config-checks.ts) and parsed by the external broker client; messages name the URL without its password.
 */
import { notAUrl } from '../url.ts';

export interface BrokerTarget {
  tls: boolean;
  host: string;
  port: number;
  username: string;
  password: string;
  /** scheme://host:port, without credentials: for messages. */
  display: string;
}

/** The parts of a broker URL, or the reason it is refused. */
export function brokerUrlParts(raw: string): BrokerTarget | string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return notAUrl(raw);
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') return 'the scheme must be mqtt:// or mqtts://';
  if (u.hostname === '') return 'the host is missing';
  if (u.pathname !== '' && u.pathname !== '/') return 'a path is not allowed';
  const tls = u.protocol === 'mqtts:';
  const port = u.port === '' ? (tls ? 8883 : 1883) : Number(u.port);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const display = `${u.protocol}//${u.hostname}:${port}`;
  return { tls, host, port, username: decodeURIComponent(u.username), password: decodeURIComponent(u.password), display };
}
