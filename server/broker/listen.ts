import type { AddressInfo, Server, Socket } from 'node:net';
import { listenError } from '../errors.ts';

/** A bound listener that tracks its sockets, so close() can wait for what was written to them. */
export interface Listener {
  readonly port: number;
  readonly sockets: ReadonlySet<Socket>;
  /** Accepting connections (for /readyz). */
  readonly listening: boolean;
  /** Stops taking new connections; live ones go on. */
  stopListening(): void;
}

/** Binds `server` (net or tls) to host:port; a failure names the flag that changes the port. */
export async function listen(server: Server, host: string, port: number, what: string, flag: string): Promise<Listener> {
  const sockets = new Set<Socket>();
  // 'close' comes once; one listener for every socket (a once() wrapper per socket would be held for its life).
  function forget(this: Socket): void {
    sockets.delete(this);
  }
  // A TLS server's 'secureConnection' socket is what aedes writes to; 'connection' is the raw TCP socket under it,
  // whose writableLength covers both.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', forget);
    void socket.remoteAddress; // read while open, Node keeps it: a log line about a connection closed early names it
  });
  server.on('secureConnection', (socket: Socket) => void socket.remoteAddress);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw listenError(what, flag, host, port, err);
  }
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    get listening() {
      return server.listening;
    },
    stopListening() {
      if (server.listening) server.close();
    },
  };
}
