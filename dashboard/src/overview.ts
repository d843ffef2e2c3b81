// Fleet overview: headline figures, the fleet chart (average with a min/max band, devices reporting), open
// anomalies by type, and the device table.
import { api, discover, features, type Anomaly, type Device, type WindowRow, type WindowSpec } from './api.ts';
import { anomalyColor, band, css, setRange, timeSeries } from './charts.ts';
import { createDeviceTable } from './device-table.ts';
import { h, setText } from './dom.ts';
import { fmtNum, fmtTemp, fmtTime, fmtWindow } from './format.ts';
import { knownWindows, recordOnline, state } from './state.ts';
import { hideGaps, markGaps, maxSpacingMs } from './gaps.ts';
import { tile } from './tiles.ts';
import { throttle, type View } from './view.ts';
import { setWindowSeries, WINDOW_COLUMNS, windowTableRows, withReadings } from './windows.ts';

const FLEET_SPAN_MS = 10 * 60_000;
const HOUR = 3_600_000;
const ANOMALIES_EVERY_MS = 10_000;

export function createOverview(root: HTMLElement): View {
  const tiles = {
    devices: tile('Devices online'),
    fleetAvg: tile('Fleet average'),
    rate: tile('Readings / s'),
    anomalies: tile('Anomalies (1 h)'),
  };
  tiles.anomalies.el.hidden = !features().anomalies;
  const canvas = h('canvas', { id: 'fleet-chart', role: 'img', 'aria-label': 'Fleet temperature chart' });
  const windowLabel = h('span', { class: 'muted' });
  const fleetTable = h('tbody');
  const anomalyPanel = h('section', { class: 'card', id: 'open-anomalies', hidden: true }, h('h2', {}, 'Anomalies by type'), h('div', { class: 'chips' }));
  let spec: WindowSpec | undefined;
  const table = createDeviceTable(() => spec, features().anomalies);
  const devicesCard = h('section', { class: 'card' }, h('h2', {}, 'Devices'), table.el);

  root.append(
    h('h1', { class: 'page-title' }, 'Fleet overview'),
    h('div', { class: 'tiles' }, ...Object.values(tiles).map((t) => t.el)),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Fleet temperature ', windowLabel),
      h('div', { class: 'chart' }, canvas),
      h(
        'details',
        { class: 'numbers' },
        h('summary', {}, 'Numbers behind the chart'),
        h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...WINDOW_COLUMNS.map((x) => h('th', { scope: 'col' }, x)))), fleetTable)),
      ),
    ),
    anomalyPanel,
    devicesCard,
  );

  const fleetBand = css('--band');
  const chart = timeSeries(canvas, {
    y: '°C',
    y2: 'devices reporting',
    datasets: [
      ...band('min–max range', fleetBand),
      { label: 'fleet average', data: [], borderColor: css('--accent'), backgroundColor: css('--accent') },
      { label: 'devices reporting', data: [], yAxisID: 'y2', borderColor: css('--muted'), backgroundColor: css('--muted'), borderDash: [4, 4], borderWidth: 1.5, stepped: true },
    ],
  });
  // A silence of the page's samples (the server away, the tab hidden) is a gap, not a step across it.
  const reporting = chart.data.datasets[3];
  reporting.segment = { borderColor: hideGaps(reporting) };

  // The last hour's anomalies, fetched again every 10 s or when the stream announces a new one.
  // `more`: the hour holds more than the pages read (the newest 5,000): the counts are lower bounds.
  let anomalyCache: { t: number; items: Anomaly[]; more: boolean } | null = null;
  const recentAnomalies = async (now: number): Promise<{ items: Anomaly[]; more: boolean }> => {
    if (anomalyCache === null || now - anomalyCache.t > ANOMALIES_EVERY_MS) anomalyCache = { t: now, ...(await api.anomalies({ from: now - HOUR })) };
    return { items: anomalyCache.items.filter((a) => Date.parse(a.ts) >= now - HOUR), more: anomalyCache.more };
  };

  let destroyed = false;
  const refresh = throttle(async () => {
    const f = await discover();
    tiles.anomalies.el.hidden = !f.anomalies;
    spec = (await knownWindows())[0];
    const now = Date.now();
    const [devices, rejections, fleet, anomalies] = await Promise.all([
      api.devices(),
      f.rejections ? api.rejections() : Promise.resolve([]),
      spec ? api.windows({ spec, from: now - FLEET_SPAN_MS - spec.lengthMs, limit: 10_000 }) : Promise.resolve([] as WindowRow[]),
      f.anomalies ? recentAnomalies(now) : Promise.resolve(null),
    ]);
    if (destroyed) return;
    if (spec) setText(windowLabel, `(${fmtWindow(spec)} windows)`);
    drawFleet(fleet, devices);
    const byDevice = anomalies ? countByDevice(anomalies.items) : null;
    // Devices heard whose every message was rejected: no reading, so not in the device list, yet the fleet has them
    // (told only from a whole list: past its last page, a device with readings would look like one).
    const known = new Set(devices.map((d) => d.deviceId));
    table.update(devices, byDevice, devices.complete ? rejections.filter((r) => !known.has(r.deviceId)) : []);
    if (anomalies) drawAnomalies(anomalies);
    const rate = state.stats?.inputRate;
    tiles.rate.set(fmtNum(rate ?? 0), 'over the recent batches');
  }, 2000);

  function drawFleet(rows: WindowRow[], devices: Device[]): void {
    const fleet = withReadings(rows);
    const online = devices.filter((d) => d.online).length;
    recordOnline(online, devices.length);
    tiles.devices.set(`${fmtNum(online)} / ${fmtNum(devices.length)}`, devices.length === 0 ? 'no device has reported yet' : online === devices.length ? 'all reporting' : `${fmtNum(devices.length - online)} offline`);
    const last = fleet[fleet.length - 1];
    // The newest final window: a window still filling holds only the devices that reported in its first moments.
    const settled = fleet.findLast((w) => w.final) ?? last;
    tiles.fleetAvg.set(
      fmtTemp(settled?.avg),
      settled ? `min ${fmtTemp(settled.min)} · max ${fmtTemp(settled.max)} · window to ${fmtTime(Date.parse(settled.end))}${settled.final ? '' : ' (partial)'}` : devices.length === 0 ? 'no window yet' : `no window in the last ${FLEET_SPAN_MS / 60_000} min`,
    );
    setWindowSeries(chart, fleet);
    chart.data.datasets[3].data = markGaps(state.online.map((o) => ({ x: o.t, y: o.online })), maxSpacingMs(state.stats?.batchIntervalMs));
    Object.assign(chart.options.scales!.y2!, { suggestedMax: Math.ceil(Math.max(1, devices.length) * 1.25) }); // the line stays off the top edge
    const now = Date.now();
    setRange(chart, now - FLEET_SPAN_MS, now);
    chart.update('none');
    canvas.setAttribute('aria-label', last ? `Fleet temperature over the last 10 minutes; latest window average ${fmtTemp(last.avg)}, min ${fmtTemp(last.min)}, max ${fmtTemp(last.max)}; ${online} devices reporting` : 'Fleet temperature: no data yet');
    fleetTable.replaceChildren(...windowTableRows(fleet, 10));
  }

  function drawAnomalies({ items, more }: { items: Anomaly[]; more: boolean }): void {
    anomalyPanel.hidden = false;
    const byType = new Map<string, { total: number; open: number }>();
    for (const a of items) {
      const c = byType.get(a.type) ?? { total: 0, open: 0 };
      c.total++;
      if (a.start != null && a.end == null) c.open++;
      byType.set(a.type, c);
    }
    const total = items.length;
    const plus = more ? '+' : ''; // "5,000+": more than the newest pages read
    const devices = new Set(items.map((a) => a.deviceId)).size;
    const noun = devices === 1 && !more ? 'device' : 'devices';
    tiles.anomalies.set(`${fmtNum(total)}${plus}`, `${fmtNum(devices)}${plus} ${noun}${more ? ' (among the newest; all: GET /api/v1/anomalies)' : ''}`);
    const chips = anomalyPanel.querySelector('.chips')!;
    chips.replaceChildren(
      ...(byType.size === 0
        ? [h('span', { class: 'muted' }, 'None in the last hour.')]
        : [...byType].sort().map(([type, c]) => h('span', { class: 'chip big', style: `--chip:${anomalyColor(type)}` }, `${type}: ${c.total}${plus} in the last hour`, c.open > 0 ? `, ${c.open} open` : ''))),
    );
  }

  refresh();
  return {
    onBatch: () => refresh(),
    onAnomaly: () => {
      anomalyCache = null;
      refresh();
    },
    reload() {
      anomalyCache = null;
      refresh();
    },
    destroy() {
      destroyed = true;
      refresh.cancel();
      chart.destroy();
    },
  };
}

function countByDevice(items: Anomaly[]): Map<string, Record<string, number>> {
  const m = new Map<string, Record<string, number>>();
  for (const a of items) {
    const r = m.get(a.deviceId) ?? {};
    r[a.type] = (r[a.type] ?? 0) + 1;
    m.set(a.deviceId, r);
  }
  return m;
}
