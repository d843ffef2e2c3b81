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
 */
export function attachWebSocket(server: Server, aedes: Aedes, maxPayloadBytes: number): WebSocketListener {
  // Room for the topic (with an IoT Hub property bag) and the packet's header besides the payload.
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxPayloadBytes + 65_536 });
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
