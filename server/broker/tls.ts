import { createServer } from 'node:tls';
import type { Aedes } from 'aedes';
import { listen, type Listener } from './listen.ts';

/**
 * MQTT over TLS (8883, where the Azure IoT device SDK connects). TLS 1.2 at least, as IoT Hub requires; a handshake
 * that fails (an untrusted CA on the device's side) never reaches aedes.
 */
export function listenTls(aedes: Aedes, host: string, port: number, credentials: { key: string; cert: string }): Promise<Listener> {
  const server = createServer({ key: credentials.key, cert: credentials.cert, minVersion: 'TLSv1.2' }, aedes.handle);
  // A client that drops during the handshake is its own problem, not the server's.
  server.on('tlsClientError', () => {});
  return listen(server, host, port, 'MQTT over TLS', '--mqtts-port');
}
