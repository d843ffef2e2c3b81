type Done = (err?: Error | null) => void;

/**
 * Exactly once for QoS 2 telemetry on the plain topics [MQTT-4.3.3]. Telemetry is ingested when its PUBLISH is
 * authorized, before aedes' own check for a packet it already holds, so a retransmission — DUP 1 with the packet id
 * of a message the client has not released yet [MQTT-3.3.1-1] — would be ingested again. Here it is not:
 *   - while the first receipt is being made durable, a retransmission waits for it and is acknowledged (PUBREC) with it;
 *   - after that, aedes holds the packet until PUBREL (`held`, its persistence, per client id: a resumed session's
 *     packets too), and a retransmission it holds is acknowledged without being ingested.
 * A PUBLISH with DUP 0 is a new message, and so is a DUP 1 whose id aedes does not hold (released, so reused).
 */
export class Qos2Receipts<C extends { id: string }> {
  /** Per client id: packet id → retransmissions waiting while the first receipt is made durable. */
  private readonly inFlight = new Map<string, Map<number, Done[]>>();

  constructor(private readonly held: (client: C, messageId: number) => Promise<boolean>) {}

  /** A QoS 2 PUBLISH: `ingest` is called for a first receipt; `done` (aedes' callback) once that is durable. */
  receive(client: C, packet: { messageId?: number; dup: boolean }, done: Done, ingest: (durable: Done) => void): void {
    const id = packet.messageId!;
    const clientId = client.id;
    if (!packet.dup) return this.take(clientId, id, done, ingest);
    const waiting = this.inFlight.get(clientId)?.get(id);
    if (waiting !== undefined) return void waiting.push(done);
    this.held(client, id).then(
      (held) => (held ? done(null) : this.take(clientId, id, done, ingest)),
      () => this.take(clientId, id, done, ingest),
    );
  }

  private take(clientId: string, id: number, done: Done, ingest: (durable: Done) => void): void {
    let ids = this.inFlight.get(clientId);
    if (ids === undefined) this.inFlight.set(clientId, (ids = new Map()));
    const waiting: Done[] = [];
    ids.set(id, waiting);
    ingest((err) => {
      done(err);
      for (const w of waiting) w(err);
      // aedes stores the packet once `done` lets it on (a promise, settled before the socket is read again): from
      // the next turn on, its persistence answers for it.
      setImmediate(() => {
        if (ids.get(id) === waiting) ids.delete(id);
        if (ids.size === 0 && this.inFlight.get(clientId) === ids) this.inFlight.delete(clientId);
      });
    });
  }
}
