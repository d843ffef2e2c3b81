import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ThermostreamError } from '../errors.ts';
import { fsyncDir } from '../ingest/log-check.ts';
import type { Store } from '../store/types.ts';
import { createPartition } from './partition.ts';

/** Where a data dir records the instance list it was partitioned by. */
export const CLUSTER_FILE = 'cluster.json';

export interface Membership {
  instanceId: string;
  /** [] = one instance owning every device. */
  instances: string[];
}

/**
 * Checks the instance list in force against the one this data dir recorded ({dataDir}/cluster.json).
 *
 * The list decides which instance holds each device's state (windows in progress, detectors, dedupe); a start with
 * another list silently moves devices, so it is refused unless the operator says --rebalance, with the count of this
 * instance's devices (of `deviceIds`, those its store knows) that move away. A data dir never partitioned (no file,
 * empty list) records nothing. The devices are listed only when the list changed. Returns the line to report after a
 * rebalance, or null.
 */
export async function checkMembership(
  dataDir: string,
  now: Membership,
  deviceIds: () => readonly string[] | Promise<readonly string[]>,
  rebalance: boolean,
): Promise<string | null> {
  const file = join(dataDir, CLUSTER_FILE);
  const was = readMembership(file);
  if (was === null) {
    if (now.instances.length > 0) writeMembership(file, now);
    return null;
  }
  if (was.instanceId === now.instanceId && sameSet(was.instances, now.instances)) return null;
  const before = createPartition(was.instances, was.instanceId);
  const after = now.instances.length === 0 || now.instances.includes(now.instanceId) ? createPartition(now.instances, now.instanceId) : null;
  const mine = (await deviceIds()).filter((id) => before.owns(id));
  const moving = after === null ? mine.length : mine.filter((id) => !after.owns(id)).length;
  const change =
    `the instance list was ${JSON.stringify(was.instances)} (this instance ${JSON.stringify(was.instanceId)}) and is now ` +
    `${JSON.stringify(now.instances)} (this instance ${JSON.stringify(now.instanceId)})`;
  const moves = `${moving} of the ${mine.length} devices this instance holds state for move to another instance`;
  if (!rebalance) {
    throw new ThermostreamError(
      'TS_ERR_CLUSTER_CHANGED',
      `${file}: ${change}: ${moves}. Changing the list is a planned operation: stop every instance, then start each one ` +
        'with the new cluster.instances and --rebalance (devices that move start fresh windows, detectors and dedupe on ' +
        'their new owner; see docs/OPERATIONS.md, Changing the instance list). Or restore the previous list.',
    );
  }
  if (now.instances.length === 0) {
    unlinkSync(file);
    fsyncDir(dataDir);
  } else writeMembership(file, now);
  return `--rebalance: ${change}; ${moves}`;
}

/**
 * With a shared store, the lists the instances recorded there (each at its start) must be this one's: an instance
 * running with another list keeps devices another instance keeps too (both count them) or that none keeps — and
 * cluster.json cannot tell, as each data dir knows only its own instance (a new instance's data dir knows nothing).
 * Refused, naming those instances, unless --rebalance (given after stopping every instance). Checked before
 * cluster.json is written; `recordClusterList` records the list once the start is accepted.
 */
export async function checkSharedMembership(
  store: Pick<Store, 'file' | 'clusterLists'>,
  now: Membership,
  rebalance: boolean,
): Promise<void> {
  if (rebalance) return;
  const others = (await store.clusterLists()).filter((m) => !sameSet(m.instances, now.instances));
  if (others.length === 0) return;
  const named = others.map((m) => `${JSON.stringify(m.instanceId)} ${JSON.stringify(m.instances)}`).join(', ');
  throw new ThermostreamError(
    'TS_ERR_CLUSTER_CHANGED',
    `${store.file}: this instance ${JSON.stringify(now.instanceId)} starts with the instance list ${JSON.stringify(now.instances)}, ` +
      `but the store records another one for ${named}: instances running with different lists count the devices that ` +
      'move on two instances or on none. Changing the list is a planned operation: stop every instance, then start each one ' +
      'with the new cluster.instances and --rebalance (see docs/OPERATIONS.md, Changing the instance list). Or start this ' +
      'one with the list in force.',
  );
}

function readMembership(file: string): Membership | null {
  if (!existsSync(file)) return null;
  let parsed: Membership;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Membership;
  } catch (err) {
    throw new ThermostreamError('TS_ERR_CLUSTER_CHANGED', `${file} cannot be read: ${(err as Error).message} (restore it, or remove it and start with the intended cluster.instances)`);
  }
  if (typeof parsed?.instanceId !== 'string' || !Array.isArray(parsed.instances)) {
    throw new ThermostreamError('TS_ERR_CLUSTER_CHANGED', `${file} is not an instance list: ${JSON.stringify(parsed)}`);
  }
  return parsed;
}

/** Written to a temporary file, fsync'ed and renamed: the recorded list is either the old one or the new one. */
function writeMembership(file: string, m: Membership): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${JSON.stringify({ instanceId: m.instanceId, instances: m.instances }, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(join(file, '..'));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
