import { createHmac } from 'node:crypto';

/** The api-version a device names in its MQTT username (as the Azure IoT device SDKs of 2021 on do). */
export const API_VERSION = '2021-04-12';

/**
 * A SAS token's signature, as IoT Hub and the device SDKs compute it: HMAC-SHA256, keyed with the device's base64
 * key, of the URL-encoded resource (`{host}/devices/{deviceId}`), a newline and the expiry in epoch seconds.
 */
export function sasSignature(key: string, encodedResource: string, expirySeconds: number | string): Buffer {
  return createHmac('sha256', Buffer.from(key, 'base64')).update(`${encodedResource}\n${expirySeconds}`).digest();
}

/** `SharedAccessSignature sr=…&sig=…&se=…` for `resource`, valid until `expirySeconds` (epoch seconds). */
export function sasToken(resource: string, key: string, expirySeconds: number): string {
  const sr = encodeURIComponent(resource);
  const sig = encodeURIComponent(sasSignature(key, sr, expirySeconds).toString('base64'));
  return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${expirySeconds}`;
}

/** The MQTT username of a device signing in with a SAS token (its client id is its device id). */
export function mqttUsername(hostName: string, deviceId: string): string {
  return `${hostName}/${deviceId}/?api-version=${API_VERSION}`;
}
