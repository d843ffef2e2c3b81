import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { isLoopback } from '../url.ts';

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
 * A message may also hold several packets (mqtt.js in a browser sends its queued writes as one message of up to
 * 512 KiB), so the packet limit (mqtt.maxPacketBytes as resolved, on aedes' parser: packet-limit.ts) is not a message
 * limit. A message is bounded for memory alone, at twice the packet limit and at least 1 MiB (0, no packet limit:
 * MQTT's largest packet); a larger one is refused by ws at its frame header, and `refused` is told (with the stream
 * aedes got), as for an oversized packet.
 */
export function attachWebSocket(
  server: Server,
  aedes: Aedes,
  maxPacketBytes: number,
  refused: (conn: Duplex, from: string, why: string) => void,
  /**
   * Without authentication (auth.mode none), told of an upgrade refused for a browser page's Origin that is not of this
   * machine; null: any Origin is taken (devices sign in).
   */
  foreignOrigin: ((from: string, origin: string) => void) | null = null,
): WebSocketListener {
  const maxMessageBytes = maxWebSocketMessageBytes(maxPacketBytes);
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes });
  const live = new Set<WebSocket>();
  let open = true;
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (!open || !WS_PATHS.includes(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // A browser lets any web page open a WebSocket to 127.0.0.1 and sends the page's Origin: without authentication,
    // such a page (or one reaching us by DNS rebinding) could publish for any device. Clients that are not browsers
    // send no Origin.
    const origin = req.headers.origin;
    if (foreignOrigin !== null && origin !== undefined && !isLocalOrigin(origin)) {
      foreignOrigin(req.socket.remoteAddress ?? 'WebSocket', origin);
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      live.add(ws);
      ws.once('close', () => live.delete(ws));
      const stream = createWebSocketStream(ws);
      ws.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          refused(stream, req.socket.remoteAddress ?? 'WebSocket', `a WebSocket message over ${maxMessageBytes} bytes (twice mqtt.maxPacketBytes, at least 1 MiB)`);
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

/** An Origin whose host is a loopback name or address (`http://localhost:3000`, `http://[::1]:8080`); not `null`. */
function isLocalOrigin(origin: string): boolean {
  try {
    return isLoopback(new URL(origin).hostname.replace(/^\[(.*)\]$/, '$1'));
  } catch {
    return false;
  }
}

/** MQTT's largest packet: a remaining length of 268,435,455 bytes and a fixed header of 5. */
const MQTT_MAX_PACKET_BYTES = 268_435_460;

/** The largest WebSocket message taken, for a packet limit (0: none). */
const maxWebSocketMessageBytes = (maxPacketBytes: number): number =>
  maxPacketBytes > 0 ? Math.max(2 * maxPacketBytes, 1 << 20) : MQTT_MAX_PACKET_BYTES;
