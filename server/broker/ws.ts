import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';

/** Paths MQTT over WebSocket is served at: ours, and the one the Azure IoT SDK's MqttWs transport asks for. */
export const WS_PATHS = ['/mqtt', '/$iothub/websocket'];

export interface WebSocketListener {
  /** Closes the live WebSocket connections' sockets (aedes has disconnected their clients by then). */
  close(): void;
}

/**
 * MQTT over WebSocket on the HTTP server's port: the upgrade requests for WS_PATHS are handed to aedes as a duplex
 * stream (one binary WebSocket message may hold any part of an MQTT packet). Other upgrades get a 404.
 *
 * `maxPacketBytes` (mqtt.maxPacketBytes as resolved; 0: no limit) bounds a message too: the packet limit on aedes'
 * parser (packet-limit.ts) sees a message's bytes only once ws has buffered it whole, so a message larger than the
 * largest packet allowed is refused by ws at its frame header, and `refused` is told (with the stream aedes got), as
 * for an oversized packet.
 */
export function attachWebSocket(
  server: Server,
  aedes: Aedes,
  maxPacketBytes: number,
  refused: (conn: Duplex, from: string, why: string) => void,
): WebSocketListener {
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxPacketBytes });
  const live = new Set<WebSocket>();
  let open = true;
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (!open || !WS_PATHS.includes(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      live.add(ws);
      ws.once('close', () => live.delete(ws));
      const stream = createWebSocketStream(ws);
      ws.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          refused(stream, req.socket.remoteAddress ?? 'WebSocket', `a WebSocket message over mqtt.maxPacketBytes = ${maxPacketBytes} bytes`);
        }
      });
      stream.on('error', () => ws.terminate());
      aedes.handle(stream, req);
    });
  };
  server.on('upgrade', onUpgrade);
  return {
    close() {
      open = false;
      server.off('upgrade', onUpgrade);
      for (const ws of live) ws.terminate();
      wss.close();
    },
  };
}
