import type { Aedes, Client } from 'aedes';
import type { Registry, SessionSubscription } from '../registry/index.ts';
import type { Identity } from './auth.ts';
import type { Hub } from './iothub.ts';

/** aedes' own record of the QoS 2 packets a client has sent and not released (its persistence, by client id), and of the subscriptions of persistent sessions. */
export interface Persistence {
  incomingGetPacket(client: Client, packet: { messageId: number }): Promise<unknown>;
  addSubscriptions(client: Client, subs: SessionSubscription[]): Promise<unknown>;
  cleanSubscriptions(client: Client): Promise<unknown>;
  cleanIncoming(client: Client): Promise<unknown>;
  outgoingStream(client: Client): AsyncIterable<{ messageId?: number }>;
  outgoingClearMessageId(client: Client, packet: { messageId?: number }): Promise<unknown>;
}

export const persistenceOf = (aedes: Aedes): Persistence => (aedes as unknown as { persistence: Persistence }).persistence;

export interface SessionDeps {
  registry: Registry;
  hub: Hub;
  identities: WeakMap<Client, Identity>;
  /** Whether a connection is a device's own (one per device, with a twin and a session), not a bridge's. */
  isDevice: (identity: Identity | undefined) => identity is Identity;
  log: (line: string) => void;
}

export interface DeviceSessions {
  /** Called once a device is authenticated, before aedes restores its session: `done` continues its CONNECT. */
  keep(client: Client, identity: Identity, done: () => void): void;
}

/**
 * IoT Hub keeps a device's persistent session (clean session off) across its own restarts, and the SDK relies on it:
 * it subscribes to desired-property updates once and, reconnecting, never again. aedes keeps sessions in memory
 * only, so the registry keeps their subscriptions, and they are put back into aedes' session before its CONNECT
 * handling restores it (from the next step, `fetchSubs`). A deleted device's session goes with it, as on IoT Hub.
 * The hub (twins, methods, cloud-to-device) learns here which devices are connected and what they subscribed to.
 */
export function keepDeviceSessions(aedes: Aedes, deps: SessionDeps): DeviceSessions {
  const { registry, hub, identities, isDevice, log } = deps;
  const persistence = persistenceOf(aedes);

  /** A registry that cannot be read or written (busy, full) costs the session's restoring, not the broker. */
  function sessionStore<T>(deviceId: string, work: () => T): T | undefined {
    try {
      return work();
    } catch (err) {
      log(`cannot keep the session of device "${deviceId}" in the registry: ${(err as Error).message}`);
      return undefined;
    }
  }

  /**
   * A deleted device's session: its connection, and what aedes keeps for its client id (the device id):
   * subscriptions, unacknowledged QoS 1 messages, QoS 2 receipts. A CONNECT of the device waits for it to go.
   */
  const forgetting = new Map<string, Promise<void>>();
  function forgetSession(deviceId: string): void {
    hub.kick(deviceId);
    const client = { id: deviceId } as Client;
    const dropped = (async () => {
      await persistence.cleanSubscriptions(client);
      await persistence.cleanIncoming(client);
      // aedes has no call that empties a client's queue: its packets are taken off one by one, as for a clean session.
      for await (const packet of persistence.outgoingStream(client)) await persistence.outgoingClearMessageId(client, packet);
    })()
      .catch((err: Error) => log(`cannot drop the session of deleted device "${deviceId}": ${err.message}`))
      .finally(() => {
        if (forgetting.get(deviceId) === dropped) forgetting.delete(deviceId);
      });
    forgetting.set(deviceId, dropped);
  }
  registry.onDeleted(forgetSession);
  // Disabled by the devices CLI: disconnected (over HTTP the route does it at once); refused from its next CONNECT.
  registry.onDisabled((deviceId) => hub.kick(deviceId));

  aedes.on('clientReady', (client) => {
    const identity = identities.get(client);
    if (!isDevice(identity)) return;
    // Signed in with a registry token (expiresAt), then deleted before its session was ready: the delete's kick
    // missed this connection, which would otherwise publish until its token expires.
    if (identity.expiresAt !== undefined && registry.credentials(identity.deviceId) === undefined) return void client.close();
    hub.connected(identity.deviceId, client);
  });
  aedes.on('clientDisconnect', (client) => {
    const identity = identities.get(client);
    if (isDevice(identity)) hub.disconnected(identity.deviceId, client);
  });
  aedes.on('subscribe', (subscriptions, client) => {
    const identity = identities.get(client);
    if (!isDevice(identity)) return;
    if (!client.clean) {
      // As aedes keeps them: the filters as the device sent them, at the QoS granted (0x80: refused, not kept).
      const kept = subscriptions.filter((s) => (s.qos as number) !== 128).map((s) => ({ topic: s.topic, qos: s.qos }));
      sessionStore(identity.deviceId, () => registry.addSessionSubscriptions(identity.deviceId, kept));
    }
    for (const s of subscriptions) hub.subscribed(identity.deviceId, client, s.topic);
  });
  aedes.on('unsubscribe', (topics, client) => {
    const identity = identities.get(client);
    if (isDevice(identity) && !client.clean) sessionStore(identity.deviceId, () => registry.removeSessionSubscriptions(identity.deviceId, topics));
  });

  function keep(client: Client, identity: Identity, done: () => void): void {
    if (!isDevice(identity)) return done();
    const dropping = forgetting.get(identity.deviceId);
    if (dropping !== undefined) return void dropping.then(() => keep(client, identity, done));
    const subs = sessionStore(identity.deviceId, () => (client.clean ? registry.clearSession(identity.deviceId) : registry.sessionSubscriptions(identity.deviceId)));
    if (!Array.isArray(subs) || subs.length === 0) return done();
    persistence.addSubscriptions(client, subs).then(done, done);
  }

  return { keep };
}
