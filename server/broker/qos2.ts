type Done = (err?: Error | null) => void;

/** Packet ids remembered per client; aedes lets a client hold at most 1,000 unreleased (maxInflightInbound). */
const MAX_IDS = 4096;

/**
 * Exactly once for QoS 2 telemetry on the plain topics [MQTT-4.3.3]. Telemetry is ingested when its PUBLISH is
 * authorized, before aedes' own check for a packet it already holds, so a retransmission — DUP 1 with a packet id
 * the client has sent before [MQTT-3.3.1-1] — would be ingested again. Here it is not: it is acknowledged (PUBREC)
 * once the first receipt is durable, as the first one is. A PUBLISH with DUP 0 is a new message, even under a
 * packet id used before. Ids are kept per client id, so a session resumed on a new connection (clean session 0)
 * keeps them; a clean session forgets them.
 */
export class Qos2Receipts {
  /** Per client id: packet id → the retransmissions waiting for the first receipt to be durable, or null once it is. */
  private readonly byClient = new Map<string, Map<number, Done[] | null>>();

  /** A QoS 2 PUBLISH: `ingest` is called for a first receipt; `done` (aedes' callback) once that is durable. */
  receive(clientId: string, packet: { messageId?: number; dup: boolean }, done: Done, ingest: (durable: Done) => void): void {
    const id = packet.messageId!;
    let ids = this.byClient.get(clientId);
    const seen = ids?.get(id);
    if (packet.dup && seen !== undefined) {
      if (seen === null) done(null);
      else seen.push(done);
      return;
    }
    if (ids === undefined) this.byClient.set(clientId, (ids = new Map()));
    const waiting: Done[] = [];
    ids.delete(id); // a reused id goes to the end: the oldest are forgotten first
    ids.set(id, waiting);
    if (ids.size > MAX_IDS) ids.delete(ids.keys().next().value!);
    ingest((err) => {
      if (ids.get(id) === waiting) {
        if (err) ids.delete(id); // not taken: a retransmission is a first receipt again
        else ids.set(id, null);
      }
      done(err);
      for (const w of waiting) w(err);
    });
  }

  /** A clean session: the client's earlier packet ids mean nothing any more. */
  forget(clientId: string): void {
    this.byClient.delete(clientId);
  }
}
