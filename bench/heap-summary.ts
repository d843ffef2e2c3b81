/**
 * A V8 heap snapshot (.heapsnapshot, as v8.writeHeapSnapshot or --heapsnapshot-signal write it) summarised by
 * constructor: for each (node type, name) the number of objects and their self size, largest first. Read without
 * JSON.parse of the whole file (which can exceed V8's string limit): the node array is scanned as bytes, and only
 * the strings table is parsed.
 *
 *   npm run bench -- memory --snapshot yes            (writes and summarises one)
 *   node --import tsx bench/heap-summary.ts FILE [N] [--closures] [--minus BASE]
 *     summarises FILE; N devices for a per-device column; --closures: closures by function name, not all together;
 *     --minus BASE: what FILE holds beyond BASE (another snapshot, e.g. bare aedes' under the same load), by group
 */
import { readFileSync } from 'node:fs';
import { fmtInt } from './harness.ts';

export interface HeapGroup {
  type: string;
  name: string;
  count: number;
  selfSize: number;
}

export interface HeapSummary {
  nodes: number;
  totalSelf: number;
  groups: HeapGroup[];
}

function section(buf: Buffer, key: string, from = 0): number {
  const at = buf.indexOf(`"${key}":[`, from, 'latin1');
  if (at < 0) throw new Error(`heap snapshot: no "${key}" array`);
  return at + key.length + 4;
}

export interface SummaryOptions {
  /** Closures grouped by their function's name ("(closure) parseNow"), not as one "(closures)" group. */
  closuresByName?: boolean;
}

export function summariseHeapSnapshot(file: string, options: SummaryOptions = {}): HeapSummary {
  const buf = readFileSync(file);
  const nodesAt = section(buf, 'nodes');
  const head = buf.toString('utf8', 0, nodesAt - '"nodes":['.length).replace(/,\s*$/, '');
  const meta = (JSON.parse(`${head}}`) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] }; node_count: number } }).snapshot;
  const fields = meta.meta.node_fields;
  const types = meta.meta.node_types[0];
  const nf = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  // Scan the node array: unsigned integers separated by commas and whitespace, up to the closing bracket.
  const n = meta.node_count;
  const type = new Uint8Array(n);
  const name = new Uint32Array(n);
  const size = new Float64Array(n);
  let p = nodesAt;
  let field = 0;
  let node = 0;
  let v = 0;
  let inNum = false;
  for (; p < buf.length; p++) {
    const c = buf[p];
    if (c >= 48 && c <= 57) {
      v = v * 10 + (c - 48);
      inNum = true;
      continue;
    }
    if (inNum) {
      if (field === iType) type[node] = v;
      else if (field === iName) name[node] = v;
      else if (field === iSize) size[node] = v;
      if (++field === nf) {
        field = 0;
        node++;
      }
      v = 0;
      inNum = false;
    }
    if (c === 93) break; // ]
  }
  const stringsAt = section(buf, 'strings', p);
  const end = buf.lastIndexOf(']');
  const strings = JSON.parse(`[${buf.toString('utf8', stringsAt, end)}]`) as string[];
  const groups = new Map<string, HeapGroup>();
  let totalSelf = 0;
  for (let i = 0; i < node; i++) {
    const t = types[type[i]];
    let label: string;
    if (t === 'object' || t === 'native' || t === 'hidden' || t === 'array') label = strings[name[i]];
    else if (t === 'closure') label = options.closuresByName ? `(closure) ${strings[name[i]] || '(anonymous)'}` : '(closures)';
    else if (t === 'string' || t === 'concatenated string' || t === 'sliced string') label = '(strings)';
    else label = `(${t})`;
    if (label.length > 80) label = `${label.slice(0, 77)}...`;
    const key = `${t}\u0000${label}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { type: t, name: label, count: 0, selfSize: 0 }));
    g.count++;
    g.selfSize += size[i];
    totalSelf += size[i];
  }
  return { nodes: node, totalSelf, groups: [...groups.values()].sort((a, b) => b.selfSize - a.selfSize) };
}

export function printHeapSummary(s: HeapSummary, devices: number | null, top = 30): void {
  const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;
  console.log(`heap: ${fmtInt(s.nodes)} objects, ${mb(s.totalSelf)} self size in all; largest groups by self size:`);
  console.log(`  ${'self size'.padStart(10)} ${'share'.padStart(6)} ${'objects'.padStart(10)}${devices ? ` ${'per device'.padStart(10)}` : ''}  type: constructor / name`);
  for (const g of s.groups.slice(0, top)) {
    const per = devices ? ` ${`${fmtInt(g.selfSize / devices)} B`.padStart(10)}` : '';
    console.log(`  ${mb(g.selfSize).padStart(10)} ${`${((g.selfSize / s.totalSelf) * 100).toFixed(1)}%`.padStart(6)} ${fmtInt(g.count).padStart(10)}${per}  ${g.type}: ${g.name}`);
  }
}

/** What `a` holds beyond `base`, group by group (counts and sizes may be negative), largest difference first. */
export function heapSummaryMinus(a: HeapSummary, base: HeapSummary): HeapSummary {
  const groups = new Map<string, HeapGroup>();
  for (const g of a.groups) groups.set(`${g.type}\u0000${g.name}`, { ...g });
  for (const g of base.groups) {
    const key = `${g.type}\u0000${g.name}`;
    const d = groups.get(key) ?? { type: g.type, name: g.name, count: 0, selfSize: 0 };
    d.count -= g.count;
    d.selfSize -= g.selfSize;
    groups.set(key, d);
  }
  return {
    nodes: a.nodes - base.nodes,
    totalSelf: a.totalSelf - base.totalSelf,
    groups: [...groups.values()].sort((x, y) => Math.abs(y.selfSize) - Math.abs(x.selfSize)),
  };
}

// Run as a script (by its name: bundled into bench/dist/server-host.mjs, import.meta.url is the bundle's).
if (process.argv[1]?.endsWith('heap-summary.ts')) {
  const args = process.argv.slice(2);
  const closuresByName = args.includes('--closures');
  const minusAt = args.indexOf('--minus');
  const base = minusAt >= 0 ? args[minusAt + 1] : undefined;
  const [file, devices] = args.filter((a, i) => !a.startsWith('--') && (minusAt < 0 || i !== minusAt + 1));
  if (!file || (minusAt >= 0 && !base)) {
    console.error('usage: node --import tsx bench/heap-summary.ts FILE.heapsnapshot [devices] [--closures] [--minus BASE.heapsnapshot]');
    process.exit(2);
  }
  const summary = summariseHeapSnapshot(file, { closuresByName });
  if (base !== undefined) console.log(`beyond ${base}:`);
  printHeapSummary(base === undefined ? summary : heapSummaryMinus(summary, summariseHeapSnapshot(base, { closuresByName })), devices ? Number(devices) : null, 40);
}
