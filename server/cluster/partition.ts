/**
 * Which instance owns a device: rendezvous (highest-random-weight) hashing of the device id over the instance list.
 * Every instance computes the same answer from the same list, with no coordination; adding or removing one instance
 * moves only the devices it gains or held (about 1/N of them), never devices between the others.
 *
 * Per reading the answer is one Map lookup: a device is hashed against the list once, the first time it is seen.
 */

import { hash32 } from '../../simulator/random.ts';

/** Cached answers beyond which the cache starts afresh (bounds memory for a fleet of garbage ids). */
const MAX_CACHED = 2_000_000;

export interface Partition {
  /** The instance ids, in the configured order. */
  readonly instances: readonly string[];
  readonly self: string;
  /** Whether this instance owns the device (always true for a single-instance list). */
  owns(deviceId: string): boolean;
  /** The owner of a device among the instances. */
  ownerOf(deviceId: string): string;
}

/** The owner of `deviceId` among `instances` (non-empty): the highest weight, ties to the smaller id. */
export function rendezvousOwner(instances: readonly string[], seeds: readonly number[], deviceId: string): number {
  let best = 0;
  let bestWeight = -1;
  for (let i = 0; i < instances.length; i++) {
    const w = hash32(deviceId, seeds[i]);
    if (w > bestWeight || (w === bestWeight && instances[i] < instances[best])) {
      best = i;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * The partition for instance `self` over `instances`; an empty list means a single instance that owns every device.
 */
export function createPartition(instances: readonly string[], self: string): Partition {
  const list = instances.length === 0 ? [self] : [...instances];
  if (!list.includes(self)) throw new Error(`instance ${JSON.stringify(self)} is not in the instance list ${JSON.stringify(list)}`);
  // An instance's seed is the hash of its id: the weights depend on ids, not on their order in the list.
  const seeds = list.map((id) => hash32(id, 0x9e3779b9));
  const selfIndex = list.indexOf(self);
  const cache = new Map<string, number>();
  const indexOf = (deviceId: string): number => {
    let owner = cache.get(deviceId);
    if (owner === undefined) {
      if (cache.size >= MAX_CACHED) cache.clear();
      owner = list.length === 1 ? 0 : rendezvousOwner(list, seeds, deviceId);
      cache.set(deviceId, owner);
    }
    return owner;
  };
  return {
    instances: list,
    self,
    owns: list.length === 1 ? () => true : (deviceId) => indexOf(deviceId) === selfIndex,
    ownerOf: (deviceId) => list[indexOf(deviceId)],
  };
}
