// The engine, as Spark Streaming's UI shows a streaming job: input rate, processing time, scheduling delay and total
// delay over time, then watermark lag and backlog, rejected by reason, late and duplicates, and the jobs.
import { api, discover, type Job, type Stats } from './api.ts';
import { css, setRange, timeSeries } from './charts.ts';
import { h, setText } from './dom.ts';
import { fmtMs, fmtNum, fmtTime, zoneOffset } from './format.ts';
import { hideGaps, markGaps, maxSpacingMs, type GapPoint } from './gaps.ts';
import { state, type Sample } from './state.ts';
import { tile } from './tiles.ts';
import { throttle, type View } from './view.ts';

const SPAN_MS = 5 * 60_000;
/** Columns of the batch table left out at phone width (total delay and the tiles carry them). */
const OPTIONAL = new Set([3, 5, 6]);

export function createEngineView(root: HTMLElement): View {
  const t = {
    rate: tile('Input rate', 'tile-input-rate'),
    processing: tile('Processing time'),
    scheduling: tile('Scheduling delay'),
    total: tile('Total delay'),
    watermark: tile('Watermark lag'),
    backlog: tile('Backlog'),
    late: tile('Late'),
    duplicates: tile('Duplicates'),
  };
  const canvases = {
    rate: h('canvas', { id: 'rate-chart', role: 'img', 'aria-label': 'Input rate over time' }),
    delay: h('canvas', { id: 'delay-chart', role: 'img', 'aria-label': 'Processing time and delays over time' }),
    lag: h('canvas', { id: 'lag-chart', role: 'img', 'aria-label': 'Watermark lag and backlog over time' }),
  };
  const rejectedRows = h('tbody');
  const batchRows = h('tbody');
  const jobRows = h('tbody');
  const jobsCard = h('section', { class: 'card', hidden: true }, h('h2', {}, 'Jobs'), h('table', {}, h('thead', {}, h('tr', {}, ...['id', 'name', 'state'].map((x) => h('th', { scope: 'col' }, x)))), jobRows));
  const summary = h('p', { class: 'muted', id: 'engine-summary' });
  const batchNote = h('span', { class: 'muted' });

  root.append(
    h('h1', { class: 'page-title' }, 'Streaming engine'),
    summary,
    h('div', { class: 'tiles wide' }, ...Object.values(t).map((x) => x.el)),
    h('div', { class: 'grid-2' },
      h('section', { class: 'card' }, h('h2', {}, 'Input rate'), h('div', { class: 'chart' }, canvases.rate)),
      h('section', { class: 'card' }, h('h2', {}, 'Processing time and delays'), h('div', { class: 'chart' }, canvases.delay)),
      h('section', { class: 'card' }, h('h2', {}, 'Watermark lag and backlog'), h('div', { class: 'chart' }, canvases.lag)),
      h('section', { class: 'card' }, h('h2', {}, 'Rejected by reason'), h('table', { id: 'rejected' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'reason'), h('th', { scope: 'col', class: 'num' }, 'readings'))), rejectedRows)),
    ),
    h('section', { class: 'card' }, h('h2', {}, 'Recent batches ', batchNote),
      h('div', { class: 'table-wrap' }, h('table', { id: 'batches' }, h('thead', {}, h('tr', {}, ...[`batch time (${zoneOffset()})`, 'records', 'processing', 'scheduling delay', 'total delay', 'late', 'duplicates'].map((x, i) => h('th', { scope: 'col', class: i === 0 ? undefined : OPTIONAL.has(i) ? 'num col-opt' : 'num' }, x)))), batchRows))),
    jobsCard,
  );

  const accent = css('--accent');
  const c2 = css('--accent-2');
  const c3 = css('--accent-3');
  // A silence (the server away, the tab hidden) is a gap in a line and its fill, not a straight line across it.
  const line = (label: string, color: string, extra: Record<string, unknown> = {}) => {
    const ds = { label, data: [] as GapPoint[], borderColor: color, backgroundColor: color, ...extra };
    return Object.assign(ds, { segment: { borderColor: hideGaps(ds), backgroundColor: hideGaps(ds) } });
  };
  const rate = timeSeries(canvases.rate, { y: 'readings / s', datasets: [line('readings / s', accent, { fill: 'origin', backgroundColor: css('--band') })] });
  const delay = timeSeries(canvases.delay, { y: 'ms', datasets: [line('processing time', accent), line('scheduling delay', c2), line('total delay', c3, { borderDash: [5, 3] })] });
  const lag = timeSeries(canvases.lag, { y: 'watermark lag (s)', y2: 'backlog (readings)', datasets: [line('watermark lag', accent), line('backlog', c2, { yAxisID: 'y2', stepped: true })] });
  for (const c of [rate, delay, lag]) Object.assign(c.options.scales!.y!, { beginAtZero: true });

  const series = (pick: (s: Sample) => number | null) => markGaps(state.samples.flatMap((s) => {
    const y = pick(s);
    return y === null ? [] : [{ x: s.t, y }];
  }), maxSpacingMs(state.stats?.batchIntervalMs));

  function draw(): void {
    const now = Date.now();
    rate.data.datasets[0].data = series((s) => s.batchRate);
    delay.data.datasets[0].data = series((s) => s.processingMs);
    delay.data.datasets[1].data = series((s) => s.schedulingDelayMs);
    delay.data.datasets[2].data = series((s) => s.totalDelayMs);
    lag.data.datasets[0].data = series((s) => (s.watermarkLagMs === null ? null : s.watermarkLagMs / 1000));
    lag.data.datasets[1].data = series((s) => s.backlog);
    // The span since the page started collecting, up to five minutes, so a fresh page's charts are not empty.
    const from = Math.max(now - SPAN_MS, Math.min(state.samples[0]?.t ?? now, now - 30_000));
    for (const c of [rate, delay, lag]) {
      setRange(c, from, now);
      c.update('none');
    }
    batchRows.replaceChildren(
      ...state.batches.slice(-10).reverse().map((b) =>
        h('tr', {}, h('td', {}, fmtTime(b.t)), h('td', { class: 'num' }, fmtNum(b.records)), h('td', { class: 'num' }, fmtMs(b.processingMs)), h('td', { class: 'num col-opt' }, fmtMs(Math.max(0, b.schedulingDelayMs))), h('td', { class: 'num' }, fmtMs(b.totalDelayMs)), h('td', { class: 'num col-opt' }, fmtNum(b.late)), h('td', { class: 'num col-opt' }, fmtNum(b.duplicates))),
      ),
    );
    setText(batchNote, '(as sampled once a second)');
    const last = state.samples[state.samples.length - 1];
    if (last) canvases.rate.setAttribute('aria-label', `Input rate over the last 5 minutes; latest ${fmtNum(last.batchRate)} readings per second`);
  }

  function figures(s: Stats): void {
    const b = s.lastBatch;
    t.rate.set(`${fmtNum(s.inputRate)}/s`, `${fmtNum(s.records)} readings in ${fmtNum(s.batches)} batches`);
    t.processing.set(fmtMs(b?.processingMs), `batch interval ${fmtMs(s.batchIntervalMs)}`);
    t.scheduling.set(fmtMs(b?.schedulingDelayMs), 'wait before a batch starts');
    t.total.set(fmtMs(b?.totalDelayMs), 'scheduling + processing');
    const wm = s.watermark ? Date.parse(s.watermark) : null;
    t.watermark.set(wm === null ? '–' : fmtMs(Math.max(0, Date.now() - wm)), wm === null ? 'no watermark yet' : `watermark ${fmtTime(wm)}`);
    t.backlog.set(fmtNum(s.backlog), `${fmtNum(s.heldAcks)} acknowledgements held`);
    t.late.set(fmtNum(s.late), 'after their window was final');
    t.duplicates.set(fmtNum(s.duplicates), 'dropped (same device and seq)');
    setText(summary, `${fmtNum(s.accepted)} readings accepted · ${fmtNum(s.rejected.total)} rejected · ${fmtNum(s.batches)} batches every ${fmtMs(s.batchIntervalMs)}`);
    const reasons = Object.entries(s.rejected.byReason).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    rejectedRows.replaceChildren(
      ...(reasons.length === 0 ? [h('tr', {}, h('td', { class: 'muted', colspan: 2 }, 'Nothing rejected.'))] : reasons.map(([r, n]) => h('tr', {}, h('td', {}, r.replaceAll('_', ' ')), h('td', { class: 'num' }, fmtNum(n))))),
    );
  }

  let destroyed = false;
  const loadJobs = throttle(async () => {
    if (!(await discover()).jobs) return;
    const jobs: Job[] = await api.jobs();
    if (destroyed) return;
    jobsCard.hidden = false;
    jobRows.replaceChildren(...jobs.map((j) => h('tr', {}, h('td', {}, String(j.id)), h('td', {}, j.name ?? '–'), h('td', {}, h('span', { class: `job ${j.state}` }, j.state)))));
  }, 5000);

  if (state.stats) figures(state.stats);
  draw();
  void api.stats().then((s) => !destroyed && figures(s)).catch(() => undefined);
  loadJobs();
  return {
    onStats(s) {
      figures(s);
      loadJobs();
    },
    onSample: () => draw(),
    reload() {
      void api.stats().then((s) => !destroyed && figures(s)).catch(() => undefined);
      loadJobs();
    },
    destroy() {
      destroyed = true;
      loadJobs.cancel();
      for (const c of [rate, delay, lag]) c.destroy();
    },
  };
}
