// One device: its rolling chart (window average, min/max band, raw readings when the server serves them, anomaly
// markers and shaded interval anomalies), range and window selectors kept in the URL, the numbers, its twin.
import { api, discover, features, HttpError, type Anomaly, type DeadLetter, type Device, type ReadingPoint, type WindowRow, type WindowSpec } from './api.ts';
import { anomalyColor, band, css, setRange, timeSeries } from './charts.ts';
import { h, setText } from './dom.ts';
import { fmtAgo, fmtAnomalyWhen, fmtDateTime, fmtExpected, fmtNum, fmtTemp, fmtTime, fmtWindow, zoneOffset } from './format.ts';
import { intervalShading, type Span } from './shading.ts';
import { knownWindows, state } from './state.ts';
import { tile } from './tiles.ts';
import { createTwinPanel } from './twin.ts';
import { throttle, type View } from './view.ts';
import { setWindowSeries, WINDOW_COLUMNS, windowTableRows, withReadings } from './windows.ts';

const RANGES = [
  { key: '5m', label: '5 min', ms: 5 * 60_000 },
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '24h', label: '24 h', ms: 86_400_000 },
];
const MAX_WINDOWS = 10_000; // the windows route's limit
const MAX_POINTS = 1500;
const ANOMALY_ROWS = 30; // the newest, in the table under the chart

interface Marker {
  x: number;
  y: number;
  a: Anomaly;
}

/** `#/devices/kitchen?range=1h&window=10000/2000` */
function parse(path: string): { id: string; range: string; window: string | null } {
  const [id, query = ''] = path.split('?');
  const q = new URLSearchParams(query);
  return { id, range: q.get('range') ?? '5m', window: q.get('window') };
}

/** The server's device ids: any other id in a link (a typo, `#/devices/bad id`) is said, and nothing is asked for it. */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createDeviceView(root: HTMLElement, path: string): View {
  const route = parse(path);
  const deviceId = route.id;
  if (!DEVICE_ID.test(deviceId)) return notADeviceId(root, deviceId);
  let range = RANGES.find((r) => r.key === route.range) ?? RANGES[0];
  // A link's range that the page does not offer (`range=2h`): said in the note, and the address bar names the one shown.
  let missingRange = range.key === route.range ? null : route.range;
  let rangeNamed = false; // the address bar names the range shown
  let specKey = route.window;

  const title = h('h1', { class: 'page-title' }, h('a', { href: '#/', class: 'back', 'aria-label': 'Back to the fleet overview' }, '←'), h('span', { id: 'device-id' }, deviceId));
  const tiles = { temp: tile('Last temperature'), seen: tile('Last seen'), status: tile('Status'), readings: tile('Readings') };
  const rangeButtons = RANGES.map((r) => {
    const b = h('button', { type: 'button', 'data-range': r.key, 'aria-pressed': String(r === range) }, r.label);
    b.addEventListener('click', () => {
      range = r;
      missingRange = null;
      syncUrl();
      refresh();
    });
    return b;
  });
  const windowSelect = h('select', { id: 'window-select', 'aria-label': 'Window' });
  windowSelect.addEventListener('change', () => {
    specKey = windowSelect.value;
    missingWindow = null;
    syncUrl();
    refresh();
  });
  const canvas = h('canvas', { id: 'device-chart', role: 'img', 'aria-label': `Temperature of ${deviceId}` });
  const note = h('p', { class: 'muted note', id: 'chart-note' });
  const legend = h('div', { class: 'chips', id: 'anomaly-legend' });
  const windowRows = h('tbody');
  const anomalyRows = h('tbody');
  const anomalyCaption = h('caption', {}, 'Anomalies in range');
  const anomalyTable = h('table', { hidden: true }, anomalyCaption, h('thead', {}, h('tr', {}, ...[`time (${zoneOffset()})`, 'type', 'score', 'value', 'expected'].map((x) => h('th', { scope: 'col' }, x)))), anomalyRows);
  const twinSlot = h('div');

  root.append(
    title,
    h('div', { class: 'tiles' }, ...Object.values(tiles).map((t) => t.el)),
    h(
      'section',
      { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Temperature'), h('div', { class: 'controls' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' }, ...rangeButtons), windowSelect)),
      h('div', { class: 'chart tall' }, canvas),
      legend,
      note,
      h(
        'details',
        { class: 'numbers' },
        h('summary', {}, 'Numbers behind the chart'),
        h('div', { class: 'table-wrap' }, h('table', {}, h('caption', {}, 'Latest windows'), h('thead', {}, h('tr', {}, ...WINDOW_COLUMNS.map((x) => h('th', { scope: 'col' }, x)))), windowRows)),
        h('div', { class: 'table-wrap' }, anomalyTable),
      ),
    ),
    twinSlot,
  );

  const spans: Span[] = [];
  const chart = timeSeries(canvas, {
    y: '°C',
    plugins: [intervalShading(() => spans)],
    datasets: [
      ...band('min–max range', css('--band')),
      { label: 'window average', data: [], borderColor: css('--accent'), backgroundColor: css('--accent') },
      ...(features().readings ? [{ label: 'readings', data: [], borderColor: 'transparent', backgroundColor: css('--muted'), pointRadius: 1.5, showLine: false }] : []),
    ],
  });
  // Band, average and (when served) the raw readings: kept whatever a draw holds; the anomaly markers come after.
  const FIXED = chart.data.datasets.length;
  chart.options.interaction = { mode: 'markerFirst', axis: 'x', intersect: false }; // charts.ts
  chart.options.plugins!.tooltip!.callbacks!.afterLabel = (item) => {
    const m = item.raw as Marker;
    if (!m || !m.a) return '';
    const a = m.a;
    return [`score ${a.score == null ? '–' : a.score.toFixed(2)}`, `value ${fmtTemp(a.value)}`, `expected ${fmtExpected(a)}`, a.threshold != null ? `threshold ${Math.round(a.threshold * 100) / 100}` : ''].filter(Boolean).join('\n');
  };

  function specs(): WindowSpec[] {
    return state.windows.length > 0 ? state.windows : windowSpecs;
  }
  function currentSpec(): WindowSpec | undefined {
    const all = specs();
    return all.find((w) => `${w.lengthMs}/${w.slideMs}` === specKey) ?? all[0];
  }
  function syncUrl(): void {
    const s = currentSpec();
    const q = new URLSearchParams({ range: range.key });
    // Before the window shapes are known (a shared URL opened directly), the URL's own window stays in it.
    const key = s ? `${s.lengthMs}/${s.slideMs}` : specKey;
    if (key) q.set('window', key);
    history.replaceState(null, '', `#/devices/${encodeURIComponent(deviceId)}?${q}`);
    for (const b of rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === range.key));
  }
  function fillWindowSelect(): void {
    const all = specs();
    const cur = currentSpec();
    if (windowSelect.options.length === all.length) return;
    windowSelect.replaceChildren(...all.map((w) => h('option', { value: `${w.lengthMs}/${w.slideMs}`, selected: w === cur }, `${fmtWindow(w)} windows`)));
  }

  let destroyed = false;
  let twin: ReturnType<typeof createTwinPanel> | null = null;
  let hasTwin: boolean | null = null; // in the registry? asked once
  let windowSpecs: WindowSpec[] = [];
  let unknown = false;
  let missingWindow: string | null = null;
  const refresh = throttle(async () => {
    const f = await discover();
    // The device: its own route where the server has it, else from the list. A device the route does not know (404,
    // an error in the browser's console) is looked for in the list from then on, until its first reading.
    const device: (Device & { windows?: WindowRow[] }) | undefined =
      f.device && !unknown
        ? await api.device(deviceId).catch((err: unknown) => {
            if (!(err instanceof HttpError && err.status === 404)) throw err;
            unknown = true; // not reported yet, or none of its messages accepted
            return undefined;
          })
        : (await api.devices()).find((d) => d.deviceId === deviceId);
    if (device !== undefined) unknown = false;
    // No reading accepted: were its messages rejected? That, not silence, is what the page must say.
    const rejected = device === undefined && f.deadLetters ? await api.deadLetters({ deviceId, limit: 100 }) : null;
    if (windowSpecs.length === 0 || state.windows.length > windowSpecs.length) windowSpecs = await knownWindows(device);
    fillWindowSelect();
    // A link's window that this server does not have: say so, and name the one shown in the address bar instead.
    if (specKey !== null && specs().length > 0 && !specs().some((w) => `${w.lengthMs}/${w.slideMs}` === specKey)) {
      const [lengthMs, slideMs] = specKey.split('/').map(Number);
      missingWindow = Number.isFinite(lengthMs) && Number.isFinite(slideMs) ? `${fmtWindow({ lengthMs, slideMs })} windows are` : `window ${JSON.stringify(specKey)} is`;
      specKey = null;
      if (destroyed) return;
      syncUrl();
    }
    if (missingRange !== null && !rangeNamed) {
      if (destroyed) return;
      rangeNamed = true;
      syncUrl();
    }
    const spec = currentSpec();
    const now = Date.now();
    const from = now - range.ms;
    let windowFrom = from - (spec?.lengthMs ?? 0);
    let capped = false;
    if (spec && (now - windowFrom) / spec.slideMs > MAX_WINDOWS) {
      windowFrom = now - MAX_WINDOWS * spec.slideMs;
      capped = true;
    }
    const [windows, readings, anomalies] = await Promise.all([
      spec ? api.windows({ deviceId, spec, from: windowFrom, limit: MAX_WINDOWS }) : Promise.resolve([] as WindowRow[]),
      f.readings && device !== undefined ? api.readings({ deviceId, from, to: now, maxPoints: MAX_POINTS }) : Promise.resolve(null),
      f.anomalies ? api.anomalies({ deviceId, from, to: now }, 2) : Promise.resolve(null),
    ]);
    if (destroyed) return;
    drawTiles(device);
    draw(windows, readings, anomalies?.items ?? [], from, now, anomalies?.more ?? false);
    setText(
      note,
      [
        spec ? `${fmtWindow(spec)} windows` : '',
        missingWindow ? `the link's ${missingWindow} not configured on this server` : '',
        missingRange !== null ? `the link's range ${JSON.stringify(missingRange)} is not one of ${RANGES.map((r) => r.label).join(', ')}: showing ${range.label}` : '',
        readings && readings.length > 0 ? 'dots: raw readings (recent) or the finest window (older)' : '',
        windows.some((w) => !w.final && w.count > 0) ? 'dashed: windows not final yet (more readings may come)' : '',
        capped ? `showing the latest ${fmtNum(MAX_WINDOWS)} windows of the range; a longer window covers all of it` : '',
        device === undefined ? notReported(rejected) : '',
        // An empty chart of a device that has readings: silent for the range, a recording replayed with its own (older)
        // timestamps, or (openWindowRefresh "final" without raw readings) windows not final yet: true of each.
        device !== undefined && !windows.some((w) => w.count > 0) && !readings?.length
          ? `no window of this device holds a reading ${capped ? 'among those shown' : `in the last ${range.label}`} (readings are drawn at their own timestamps, ts)`
          : '',
      ]
        .filter(Boolean)
        .join(' · '),
    );
    if (f.twin && twin === null && hasTwin === null) hasTwin = await api.registered(deviceId).catch(() => null);
    if (destroyed) return;
    if (hasTwin && twin === null) {
      twin = createTwinPanel(deviceId);
      twinSlot.replaceWith(twin.el);
    }
    twin?.refresh();
  }, 1000);

  function drawTiles(d: Device | undefined): void {
    const now = Date.now();
    tiles.temp.set(fmtTemp(d?.lastTemperature));
    tiles.seen.set(d ? fmtAgo(Date.parse(d.lastSeen), now) : '–', d ? fmtDateTime(Date.parse(d.lastSeen)) : '');
    tiles.status.set(d ? (d.online ? 'online' : 'offline') : 'unknown');
    tiles.status.el.dataset.status = d?.online ? 'online' : 'offline';
    const rejected = d?.rejected?.total ? ` · ${fmtNum(d.rejected.total)} rejected` : '';
    tiles.readings.set(fmtNum(d?.readings ?? 0), d ? `since ${fmtDateTime(Date.parse(d.firstSeen))}${rejected}` : '');
  }

  /** `more`: the range holds more anomalies than the pages read (the newest 2,000). */
  function draw(rows: WindowRow[], readings: ReadingPoint[] | null, anomalies: Anomaly[], from: number, now: number, more: boolean): void {
    const windows = withReadings(rows);
    setWindowSeries(chart, windows);
    const ds = chart.data.datasets;
    // No readings yet (a device that has not reported): the readings dataset stays, empty, for the next draw.
    if (FIXED > 3) ds[3].data = (readings ?? []).map((r) => ({ x: Date.parse(r.ts), y: r.temperature }));
    // Point anomalies as markers, one dataset per type (its legend entry is the colour key).
    ds.length = FIXED;
    spans.length = 0;
    const byType = new Map<string, Marker[]>();
    for (const a of anomalies) {
      if (a.start != null) spans.push({ start: Date.parse(a.start), end: a.end ? Date.parse(a.end) : now, color: anomalyColor(a.type), label: a.type });
      if (a.value == null) continue;
      const list = byType.get(a.type) ?? [];
      list.push({ x: Date.parse(a.ts), y: a.value, a });
      byType.set(a.type, list);
    }
    for (const [type, markers] of [...byType].sort()) {
      const color = anomalyColor(type);
      ds.push({ label: type, data: markers, showLine: false, pointRadius: 5, pointHoverRadius: 7, pointStyle: 'circle', borderColor: css('--surface'), borderWidth: 1.5, backgroundColor: color });
    }
    setRange(chart, from, now);
    chart.update('none');

    legend.replaceChildren(...[...new Set(spans.map((s) => s.label))].map((t) => h('span', { class: 'chip', style: `--chip:${anomalyColor(t)}` }, `${t} (shaded span)`)));
    const last = windows[windows.length - 1];
    canvas.setAttribute(
      'aria-label',
      last
        ? `Temperature of ${deviceId}: latest window average ${fmtTemp(last.avg)} (min ${fmtTemp(last.min)}, max ${fmtTemp(last.max)}), ${windows.length} windows, ${anomalies.length} anomalies in range`
        : `Temperature of ${deviceId}: no data in range`,
    );
    windowRows.replaceChildren(...windowTableRows(windows, 15));
    anomalyTable.hidden = anomalies.length === 0;
    // The table lists the newest few: say so, rather than look like every anomaly of the range.
    setText(anomalyCaption, anomalies.length > ANOMALY_ROWS || more ? `Anomalies in range: the newest ${ANOMALY_ROWS} of ${fmtNum(anomalies.length)}${more ? '+' : ''} (all: GET /api/v1/anomalies)` : 'Anomalies in range');
    anomalyRows.replaceChildren(
      ...anomalies.slice(0, ANOMALY_ROWS).map((a) => h('tr', {}, h('td', {}, fmtAnomalyWhen(a, now)), h('td', {}, a.type), h('td', {}, a.score == null ? '–' : a.score.toFixed(2)), h('td', {}, fmtTemp(a.value)), h('td', {}, fmtExpected(a)))),
    );
  }

  syncUrl();
  refresh();
  // Live updates every batch for the short range; the longer ranges move slowly and cost more to fetch.
  let lastLive = 0;
  const live = (): void => {
    const every = Math.min(30_000, Math.max(1000, range.ms / 300));
    if (Date.now() - lastLive < every) return;
    lastLive = Date.now();
    refresh();
  };
  return {
    onBatch: live,
    onAnomaly: (a) => {
      if (a.deviceId === deviceId) refresh();
    },
    reload() {
      // Whatever the range (a long one refreshes only every 30 s on batches), and the windows learned again.
      windowSpecs = [];
      lastLive = Date.now();
      refresh();
    },
    destroy() {
      destroyed = true;
      refresh.cancel();
      twin?.destroy();
      chart.destroy();
    },
  };
}

function notADeviceId(root: HTMLElement, id: string): View {
  root.append(
    h('h1', { class: 'page-title' }, h('a', { href: '#/', class: 'back', 'aria-label': 'Back to the fleet overview' }, '←'), h('span', { id: 'device-id' }, id)),
    h('p', { class: 'note', id: 'chart-note' }, `${JSON.stringify(id)} is not a device id: a device id is 1 to 128 letters, digits, ".", "_", ":" or "-". `, h('a', { href: '#/' }, 'The fleet overview'), ' lists the devices.'),
  );
  const nothing = (): void => {};
  return { reload: nothing, destroy: nothing };
}

/** Why a device has no reading: it never sent one, or every message it sent was rejected (the newest one's reason). */
function notReported(page: { items: DeadLetter[]; next?: string | null } | null): string {
  const newest = page?.items[0];
  if (!page || !newest) return 'this device has not reported yet';
  const byReason = new Map<string, number>();
  for (const d of page.items) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
  const n = page.next ? `over ${fmtNum(page.items.length)} messages` : `${fmtNum(page.items.length)} message${page.items.length === 1 ? '' : 's'}`;
  const reasons = [...byReason].sort((a, b) => b[1] - a[1]).map(([r]) => r.replaceAll('_', ' ')).join(', ');
  return `no reading of this device was accepted: ${n} rejected (${reasons}); the newest at ${fmtTime(Date.parse(newest.receivedAt))}: ${newest.detail}`;
}
