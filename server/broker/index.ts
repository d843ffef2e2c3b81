import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { listenError } from '../errors.ts';
import { urlHost } from '../url.ts';

export interface BrokerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/**
 * Called for every PUBLISH a client sends, before the broker acknowledges it.
 * `done()` releases the PUBACK (QoS 1); ingest calls it once the reading is safely accepted.
 * The hook never refuses a packet: bad input is dead-lettered by ingest, not answered with a disconnect.
 */
export type OnPublish = (clientId: string, packet: PublishPacket, done: () => void) => void;

export interface BrokerDeps {
  onPublish: OnPublish;
  /**
   * Whether a client's publish on `topic` is also routed to MQTT subscribers. Telemetry that only Thermostream
   * consumes need not be: skipping aedes' routing (topic matching, offline queues, a packet copy) for it is what
   * lets ingest keep up. The broker's own publishes are always routed.
   */
  forward?: (topic: string) => boolean;
}

export interface Broker {
  readonly aedes: Aedes;
  readonly port: number;
  readonly url: string;
  /** The listener accepts connections (for /readyz). */
  readonly listening: boolean;
  /** MQTT clients connected now. */
  readonly connectedClients: number;
  /** Stops taking new connections; live ones go on until close(). */
  stopListening(): void;
  /** Lets what was written to the clients (acknowledgements) reach them, then disconnects them. */
  close(): Promise<void>;
}

/** How long close() waits for acknowledgements already written to reach slow clients. */
const FLUSH_TIMEOUT_MS = 2000;

/** Embedded aedes broker speaking MQTT 3.1.1 over TCP. */
export async function createBroker(config: BrokerConfig, deps: BrokerDeps): Promise<Broker> {
  const aedes = await Aedes.createBroker({
    // Device ids go up to 128 characters (DESIGN.md); devices often use them as MQTT client ids.
    maxClientsIdLength: 256,
    authorizePublish(client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) {
      // Publishes from inside the broker ($SYS heartbeats) have no client and are not telemetry.
      if (client === null) return callback(null);
      deps.onPublish(client.id, packet, callback);
    },
  });
  const forward = deps.forward;
  if (forward !== undefined) {
    // aedes routes an accepted PUBLISH through broker.publish(packet, client, done) (lib/handlers/publish.js).
    type Route = (packet: PublishPacket, client: Client | null, done: (err?: Error) => void) => void;
    const route = (aedes.publish as unknown as Route).bind(aedes);
    const routeSome: Route = (packet, client, done) =>
      typeof client === 'object' && client !== null && !forward(packet.topic) ? done() : route(packet, client, done);
    (aedes as unknown as { publish: Route }).publish = routeSome;
  }
  const server: Server = createServer(aedes.handle);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw listenError('MQTT', '--mqtt-port', config.host, config.port, err);
  }
  const port = (server.address() as AddressInfo).port;
  return {
    aedes,
    port,
    url: `mqtt://${urlHost(config.host)}:${port}`,
    get connectedClients() {
      return aedes.connectedClients;
    },
    get listening() {
      return server.listening;
    },
    stopListening() {
      if (server.listening) server.close();
    },
    async close() {
      if (server.listening) server.close();
      const deadline = Date.now() + FLUSH_TIMEOUT_MS;
      while ([...sockets].some((s) => s.writableLength > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
