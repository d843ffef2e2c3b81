import { readFileSync, writeFileSync } from 'node:fs';

/**
 * The subscriptions an external broker last acknowledged for Thermostream's persistent session, kept in the data
 * dir. A resumed session keeps its subscriptions [MQTT-3.1.2-4], and subscribing again would make the broker send
 * its retained copy of every matching topic [MQTT-3.3.1-6]: readings delivered before, counted again at each
 * connect. So a resumed session with the recorded subscriptions is not subscribed again; a new session (the first
 * start, a broker that lost it), one whose SUBACK never came, or other filters (a changed broker.shareGroup) are.
 */
export interface BrokerSession {
  /** The broker's URL without credentials. */
  broker: string;
  clientId: string;
  subscriptions: string[];
}

/**
 * What a CONNACK calls for: nothing (`subscribe` false: the resumed session has these subscriptions), or a
 * SUBSCRIBE, after an UNSUBSCRIBE of the filters the resumed session holds and no longer wants (`stale`).
 */
export function subscriptionsToMake(file: string | undefined, sessionPresent: boolean, now: BrokerSession): { subscribe: boolean; stale: string[] } {
  const record = sessionPresent ? read(file) : null;
  if (record === null || record.broker !== now.broker || record.clientId !== now.clientId) return { subscribe: true, stale: [] };
  const stale = record.subscriptions.filter((f) => !now.subscriptions.includes(f));
  const missing = now.subscriptions.some((f) => !record.subscriptions.includes(f));
  return { subscribe: missing || stale.length > 0, stale };
}

/** After a SUBACK. A record that cannot be written only makes the next connect subscribe again. */
export function recordSession(file: string, session: BrokerSession): void {
  writeFileSync(file, `${JSON.stringify(session)}\n`);
}

function read(file: string | undefined): BrokerSession | null {
  if (file === undefined) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BrokerSession;
  } catch {
    return null; // none yet, or unreadable: subscribe
  }
}
