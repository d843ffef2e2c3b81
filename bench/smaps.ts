/**
 * Where a process's RSS lies beyond the heaps V8 reports: /proc/self/smaps summed by kind of mapping. glibc's
 * malloc arenas of other threads (a worker's, libuv's pool's) are anonymous regions reserved 64 MiB at a time
 * (HEAP_MAX_SIZE on 64-bit), the part in use readable and writable and the rest inaccessible; the main thread's
 * arena is [heap] (brk); V8's pages and large allocations (mmap'ed malloc blocks) are the other anonymous mappings.
 * Linux only; null elsewhere.
 */
import { readFileSync } from 'node:fs';
import { fmtMB } from './harness.ts';

export interface SmapsSummary {
  /** RSS by kind: "[heap] (main arena)", "malloc arenas (64 MiB)", "anonymous, other", "[stack]", files by name. */
  kinds: { kind: string; rss: number; mappings: number }[];
  total: number;
}

const ARENA = 64 * 1024 * 1024;

interface Mapping {
  start: number;
  end: number;
  perms: string;
  name: string;
  rss: number;
}

export function readSmaps(file = '/proc/self/smaps'): SmapsSummary | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const maps: Mapping[] = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], name: head[4], rss: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length > 0) maps[maps.length - 1].rss = Number(rss[1]) * 1024;
  }
  const kinds = new Map<string, { kind: string; rss: number; mappings: number }>();
  const add = (kind: string, m: Mapping) => {
    let k = kinds.get(kind);
    if (k === undefined) kinds.set(kind, (k = { kind, rss: 0, mappings: 0 }));
    k.rss += m.rss;
    k.mappings++;
  };
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    if (m.name === '') {
      // An arena: 64 MiB aligned, its used part followed by the inaccessible rest (or all of it in use).
      const next = maps[i + 1];
      const arena = m.start % ARENA === 0 && (m.end - m.start === ARENA || (next !== undefined && next.name === '' && next.start === m.end && next.perms.startsWith('---') && next.end - m.start === ARENA));
      add(arena ? 'malloc arenas of threads (64 MiB each)' : m.perms.startsWith('---') ? 'anonymous, inaccessible' : 'anonymous, other (V8 pages, large malloc blocks)', m);
    } else if (m.name === '[heap]') add('[heap] (the main arena of malloc)', m);
    else if (m.name.startsWith('[')) add(m.name.replace(/:.*$/, ''), m);
    else add(m.name.replace(/^.*\//, ''), m);
  }
  const list = [...kinds.values()].sort((a, b) => b.rss - a.rss);
  return { kinds: list, total: list.reduce((s, k) => s + k.rss, 0) };
}

export function printSmaps(s: SmapsSummary, top = 12): void {
  console.log(`RSS by mapping (/proc/self/smaps): ${fmtMB(s.total)} in all`);
  for (const k of s.kinds.slice(0, top)) console.log(`  ${fmtMB(k.rss).padStart(9)} ${String(k.mappings).padStart(6)} mappings  ${k.kind}`);
}
