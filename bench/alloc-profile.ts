/**
 * Where a process allocates, garbage included: V8's sampling heap profiler through the inspector, with objects
 * collected by minor and major GCs kept in the profile, summarised by the allocating function and by area (a
 * package, a server stage). Used by bench/memory.ts (--alloc-profile) over the load phase.
 */
import { Session } from 'node:inspector';
import { areaOf, shortUrl } from './profile.ts';

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

export interface AllocSummary {
  totalBytes: number;
  functions: { name: string; where: string; bytes: number }[];
  areas: { area: string; bytes: number }[];
}

export class AllocProfiler {
  private readonly session = new Session();

  async start(samplingInterval = 64 * 1024): Promise<void> {
    this.session.connect();
    await this.post('HeapProfiler.startSampling', { samplingInterval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }

  async stop(): Promise<AllocSummary> {
    const { profile } = (await this.post('HeapProfiler.stopSampling', {})) as { profile: { head: SamplingNode } };
    this.session.disconnect();
    const fns = new Map<string, { name: string; where: string; bytes: number }>();
    const areas = new Map<string, number>();
    let total = 0;
    const stack: SamplingNode[] = [profile.head];
    while (stack.length > 0) {
      const n = stack.pop()!;
      for (const c of n.children) stack.push(c);
      if (n.selfSize === 0) continue;
      const f = n.callFrame;
      const where = f.url ? (f.url.endsWith('.ts') ? shortUrl(f.url) : `${shortUrl(f.url)}:${f.lineNumber + 1}`) : '';
      const key = `${f.functionName}@${where}`;
      const e = fns.get(key) ?? { name: f.functionName || '(anonymous)', where, bytes: 0 };
      e.bytes += n.selfSize;
      fns.set(key, e);
      const a = areaOf(f);
      areas.set(a, (areas.get(a) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    return {
      totalBytes: total,
      functions: [...fns.values()].sort((a, b) => b.bytes - a.bytes),
      areas: [...areas].map(([area, bytes]) => ({ area, bytes })).sort((a, b) => b.bytes - a.bytes),
    };
  }

  private post(method: string, params: object): Promise<unknown> {
    return new Promise((resolve, reject) => this.session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  }
}

export function printAllocSummary(s: AllocSummary, seconds: number, readings: number, top = 25): void {
  const mb = (b: number): string => `${(b / 1048576).toFixed(0)} MB`;
  const pct = (b: number): string => `${((b / s.totalBytes) * 100).toFixed(1)}%`.padStart(6);
  console.log(
    `allocated during the load (sampled, garbage included): ${mb(s.totalBytes)} in ${seconds.toFixed(0)} s = ${mb(s.totalBytes / seconds)}/s, ` +
      `${Math.round(s.totalBytes / Math.max(1, readings))} bytes per reading`,
  );
  console.log('by area:');
  for (const a of s.areas.slice(0, 15)) console.log(`  ${pct(a.bytes)} ${mb(a.bytes).padStart(8)}  ${a.area}`);
  console.log(`top ${top} allocating functions:`);
  for (const f of s.functions.slice(0, top)) console.log(`  ${pct(f.bytes)} ${mb(f.bytes).padStart(8)}  ${f.name}  ${f.where}`);
}
