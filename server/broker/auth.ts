import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.ts';
import { sasSignature } from '../registry/sas.ts';
import { hostWithoutPort } from '../url.ts';

/** What the broker needs to know of a registered device to authenticate it. */
export interface DeviceCredentials {
  status: 'enabled' | 'disabled';
  primaryKey: string;
  secondaryKey: string;
}

export interface CredentialSource {
  credentials(deviceId: string): DeviceCredentials | undefined;
}

/** Who a connection speaks for, once authenticated. */
export interface Identity {
  /** The device id (the MQTT client id when authentication is off, the username for a plain user). */
  readonly deviceId: string;
  /** false: may publish and subscribe for any device (authentication off, or a `"deviceId": "*"` user). */
  readonly restricted: boolean;
  /** `devices/{deviceId}/`: everything the device may publish under. */
  readonly prefix: string;
  /** When the SAS token it connected with expires (epoch ms): the connection is closed then, as IoT Hub does. */
  readonly expiresAt?: number;
}

/** Why a CONNECT was refused; counted per reason (stable strings: they are API values). */
export const AuthFailures = [
  'no_credentials',
  'bad_username',
  'client_id_mismatch',
  'unknown_device',
  'device_disabled',
  'malformed_token',
  'wrong_resource',
  'wrong_host',
  'expired',
  'bad_signature',
  'bad_password',
] as const;
export type AuthFailure = (typeof AuthFailures)[number];

export type AuthResult = { ok: true; identity: Identity } | { ok: false; reason: AuthFailure; detail: string };

export const identityOf = (deviceId: string, restricted: boolean, expiresAt?: number): Identity => ({
  deviceId,
  restricted,
  prefix: `devices/${deviceId}/`,
  expiresAt,
});

const SAS_PREFIX = 'SharedAccessSignature ';

/** A host name without its port, in lower case: `[::1]:8883` is `::1`, `Hub.example.com` is `hub.example.com`. */
const hostOnly = (hostName: string): string => hostWithoutPort(hostName).toLowerCase();

/**
 * The `authenticate` decision, pure: IoT Hub SAS tokens for registry devices, and plain username/password pairs
 * from config. With auth.mode none everyone is let in and the client id names the device. `hostName` is
 * iothub.hostName: when set, a token must be for that host (on any port: a proxy's is another); when empty, any.
 */
export function createAuthenticator(auth: Config['auth'], devices: CredentialSource, now: () => number, hostName = '') {
  const users = new Map(auth.users.map((u) => [u.username, { digest: sha256(u.password), deviceId: u.deviceId ?? u.username }]));
  /** The devices users speak for: a client id that names one is that device's. */
  const userDevices = new Set([...users.values()].map((u) => u.deviceId).filter((id) => id !== '*'));

  return function authenticate(clientId: string, username: string | undefined, password: Buffer | undefined): AuthResult {
    if (auth.mode === 'none') return { ok: true, identity: identityOf(clientId, false) };
    if (username === undefined) return fail('no_credentials', 'no username or password');
    const user = users.get(username);
    if (password === undefined) {
      // A device's username without a password is what the IoT Hub SDKs send when they sign in with a client certificate.
      return fail('no_credentials', user !== undefined ? `no password for user "${username}"` : 'no password: a device signs in with a SAS token (X.509 client certificates are not supported)');
    }
    if (user !== undefined) {
      // Digests have one length, so the comparison takes the same time whatever the password's length.
      if (!timingSafeEqual(sha256(password), user.digest)) return fail('bad_password', `wrong password for user "${username}"`);
      if (user.deviceId === '*') return { ok: true, identity: identityOf(username, false) };
      // Any client id will do (mosquitto_pub's and mqtt.js' are random), but not another device's: aedes would close
      // that device's connection and hand this one its session (its queued cloud-to-device messages).
      if (clientId !== user.deviceId && (userDevices.has(clientId) || devices.credentials(clientId) !== undefined)) {
        return fail('client_id_mismatch', `client id "${truncate(clientId)}" is another device's; user "${username}" speaks for device "${user.deviceId}"`);
      }
      return { ok: true, identity: identityOf(user.deviceId, true) };
    }
    return checkSas(clientId, username, password.toString('utf8'));
  };

  function checkSas(clientId: string, username: string, password: string): AuthResult {
    // {host}/{deviceId}/?api-version=… (the SDK adds &DeviceClientType=…); a module's {host}/{device}/{module}/… is not supported.
    const parts = username.split('/');
    if (parts.length < 3 || parts[0] === '' || parts[1] === '') {
      return fail('bad_username', `username ${JSON.stringify(truncate(username))} is not {host}/{deviceId}/?api-version=…`);
    }
    const [host, deviceId] = parts;
    // A module signs in with client id {deviceId}/{moduleId} and username {host}/{deviceId}/{moduleId}/?api-version=…:
    // name what it is rather than a client id that differs.
    if (parts.length > 3 && clientId === `${deviceId}/${parts[2]}`) {
      return fail('bad_username', `username ${JSON.stringify(truncate(username))} signs in module "${truncate(parts[2])}" of device "${truncate(deviceId)}": IoT Hub module identities are not supported, only devices`);
    }
    if (clientId !== deviceId) return fail('client_id_mismatch', `client id "${truncate(clientId)}" differs from the username's device "${truncate(deviceId)}"`);
    const device = devices.credentials(deviceId);
    if (device === undefined) return fail('unknown_device', `device "${truncate(deviceId)}" is not registered`);
    if (device.status !== 'enabled') return fail('device_disabled', `device "${deviceId}" is disabled`);
    if (!password.startsWith(SAS_PREFIX)) return fail('malformed_token', 'password is not a SharedAccessSignature');
    const fields = new Map<string, string>();
    for (const pair of password.slice(SAS_PREFIX.length).split('&')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const policy = fields.get('skn');
    if (policy !== undefined) {
      // A policy's key is no device's: without this, the refusal would read as a wrong key of the device.
      return fail('malformed_token', `token is signed with the shared access policy ${JSON.stringify(truncate(policy))} (skn=): shared access policies are not supported, a device signs with its own key`);
    }
    const rawSr = fields.get('sr');
    const rawSig = fields.get('sig');
    const se = fields.get('se');
    if (rawSr === undefined || rawSig === undefined || se === undefined || !/^\d{1,12}$/.test(se)) {
      return fail('malformed_token', 'SharedAccessSignature lacks sr, sig or a numeric se');
    }
    let sr: string;
    let sig: Buffer;
    try {
      sr = decodeURIComponent(rawSr);
      sig = Buffer.from(decodeURIComponent(rawSig), 'base64');
    } catch {
      return fail('malformed_token', 'SharedAccessSignature has a badly encoded sr or sig');
    }
    // The host as hostOnly compares it (case and port aside): `npm run devices -- token` signs the connection string's
    // localhost:{tlsPort}, and README's mosquitto_pub line names plain localhost in its username.
    const path = `/devices/${deviceId}`.toLowerCase();
    if (!sr.toLowerCase().endsWith(path) || hostOnly(sr.slice(0, sr.length - path.length)) !== hostOnly(host)) {
      return fail('wrong_resource', `token is for ${JSON.stringify(truncate(sr))}, not ${host}/devices/${deviceId}`);
    }
    if (hostName !== '' && hostOnly(host) !== hostOnly(hostName)) {
      return fail('wrong_host', `token is for host ${JSON.stringify(truncate(host))}, this server is ${JSON.stringify(hostName)} (iothub.hostName)`);
    }
    if (Number(se) * 1000 <= now()) return fail('expired', `token expired at ${new Date(Number(se) * 1000).toISOString()}`);
    // The device signed the URL-encoded sr as it sends it (encodeURIComponent(resourceUri) + "\n" + se).
    for (const key of [device.primaryKey, device.secondaryKey]) {
      const expected = sasSignature(key, rawSr, se);
      if (sig.length === expected.length && timingSafeEqual(sig, expected)) return { ok: true, identity: identityOf(deviceId, true, Number(se) * 1000) };
    }
    return fail('bad_signature', `signature does not match device "${deviceId}"'s keys`);
  }
}

function fail(reason: AuthFailure, detail: string): AuthResult {
  return { ok: false, reason, detail };
}

function sha256(v: string | Buffer): Buffer {
  return createHash('sha256').update(v).digest();
}

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

/** How Azure's Embedded C SDK subscribes to its cloud-to-device messages (IoT Hub takes `+` as the device itself). */
export const ANY_DEVICEBOUND = 'devices/+/messages/devicebound/#';

/**
 * The filter a restricted device's SUBSCRIBE is kept under, or null when it is refused: its own cloud-to-device topic
 * (`devices/+/…` stands for it, as on IoT Hub) and the `$iothub/` request/response topics (whose messages the broker
 * delivers to that one connection only). Anyone else subscribes as asked.
 */
export function subscriptionFor(identity: Identity, topic: string): string | null {
  if (!identity.restricted || topic.startsWith('$iothub/')) return topic;
  if (topic === ANY_DEVICEBOUND) return `${identity.prefix}messages/devicebound/#`;
  return topic.startsWith(`${identity.prefix}messages/devicebound/`) ? topic : null;
}
