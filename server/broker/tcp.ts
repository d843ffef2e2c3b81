import { createServer } from 'node:net';
import type { Aedes } from 'aedes';
import { listen, type Listener } from './listen.ts';

/** MQTT over plain TCP (1883). */
export function listenTcp(aedes: Aedes, host: string, port: number): Promise<Listener> {
  return listen(createServer(aedes.handle), host, port, 'MQTT', '--mqtt-port');
}
