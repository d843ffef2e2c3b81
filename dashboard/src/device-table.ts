// The fleet's device table: sortable, filterable, paged (25 rows drawn however large the fleet), a sparkline per
// visible row fetched lazily and cached.
import { api, type Device, type Rejections, type WindowSpec } from './api.ts';
import { anomalyColor } from './charts.ts';
import { h, setText, sparkline } from './dom.ts';
import { fmtAgo, fmtDateTime, fmtNum, fmtTemp } from './format.ts';
import { tableHash, tableQuery } from './hash.ts';
import { withReadings } from './windows.ts';

type SortKey = 'deviceId' | 'lastTemperature' | 'lastSeen' | 'online' | 'anomalies';
const PAGE = 25;
const COLLATOR = new Intl.Collator('en', { numeric: true });
const SPARK_POINTS = 30;
const SPARK_TTL_MS = 10_000;

const COLUMNS: { key: SortKey | null; label: string; className?: string; needsAnomalies?: boolean }[] = [
  { key: 'deviceId', label: 'Device' },
  { key: 'lastTemperature', label: 'Last °C', className: 'num' },
  { key: 'lastSeen', label: 'Last seen', className: 'col-seen' },
  { key: 'online', label: 'Status' },
  { key: 'anomalies', label: 'Anomalies (1 h)', needsAnomalies: true },
  { key: null, label: 'Trend', className: 'col-spark' },
];

/** A row: a device with readings, or one heard whose every message was rejected (none of a Device's figures). */
type Row = Device | Rejections;
const isRejected = (d: Row): d is Rejections => !('lastSeen' in d);

export interface DeviceTable {
  readonly el: HTMLElement;
  /** `rejected`: devices none of whose messages was accepted, listed with that state. */
  update(devices: Device[], anomalies: Map<string, Record<string, number>> | null, rejected?: Rejections[]): void;
}

type Status = 'all' | 'online' | 'offline' | 'rejected';

const STATUSES: readonly (readonly [Status, string])[] = [['all', 'All'], ['online', 'Online'], ['offline', 'Offline'], ['rejected', 'Every message rejected']];
const DEFAULTS = { sortKey: 'deviceId' as SortKey, ascending: true, page: 0, filter: '', status: 'all' as Status };
/**
 * How the table was last left (filter, status, sort, page): the overview is built anew on every visit, and a user who
 * filtered the fleet, opened a device and went back expects the same rows, as a browser restores a form. The
 * overview's link holds it too (hash.ts tableQuery), which wins when given: a reload or a shared link shows the same
 * rows.
 */
const kept = { ...DEFAULTS };

/** The table's state from the link where it gives a valid one, else as it was last left. */
function initialState(showAnomalies: boolean): typeof kept {
  const q = tableQuery(location.hash.replace(/^#/, ''));
  const sortable = COLUMNS.some((c) => c.key !== null && c.key === q.sortKey && (showAnomalies || !c.needsAnomalies));
  if (Object.keys(q).length === 0) return { ...kept };
  return {
    filter: q.filter ?? DEFAULTS.filter,
    status: STATUSES.some(([s]) => s === q.status) ? (q.status as Status) : DEFAULTS.status,
    sortKey: sortable ? (q.sortKey as SortKey) : DEFAULTS.sortKey,
    ascending: sortable ? q.ascending! : DEFAULTS.ascending,
    page: q.page ?? DEFAULTS.page,
  };
}

export function createDeviceTable(spec: () => WindowSpec | undefined, showAnomalies: boolean): DeviceTable {
  let devices: Device[] = [];
  let rejected: Rejections[] = [];
  let anomalies = new Map<string, Record<string, number>>();
  const initial = initialState(showAnomalies);
  let { sortKey, ascending, page, status } = initial;
  let filterText = initial.filter.trim().toLowerCase();
  const sparks = new Map<string, { t: number; values: number[] }>();

  const filter = h('input', { type: 'search', id: 'device-filter', placeholder: 'Filter by device id', 'aria-label': 'Filter devices by id', autocomplete: 'off', value: initial.filter });
  filter.addEventListener('input', () => {
    filterText = filter.value.trim().toLowerCase();
    page = 0;
    render();
  });
  const statusSelect = h('select', { id: 'device-status', 'aria-label': 'Show devices by status' }, ...STATUSES.map(([value, label]) => h('option', { value }, label)));
  statusSelect.value = status;
  statusSelect.addEventListener('change', () => {
    status = statusSelect.value as Status;
    page = 0;
    render();
  });
  const count = h('span', { class: 'muted', id: 'device-count', 'aria-live': 'polite' });
  const columns = COLUMNS.filter((c) => showAnomalies || !c.needsAnomalies);
  const headers = columns.map((c) => {
    if (c.key === null) return h('th', { scope: 'col', class: c.className }, c.label);
    const key = c.key;
    const button = h('button', { type: 'button', class: 'sort', 'data-key': key }, c.label);
    button.addEventListener('click', () => {
      ascending = sortKey === key ? !ascending : true;
      sortKey = key;
      render();
    });
    return h('th', { scope: 'col', class: c.className, 'data-key': key }, button);
  });
  const tbody = h('tbody');
  const table = h('table', { id: 'devices', class: 'devices' }, h('caption', { class: 'sr-only' }, 'Devices; use the column buttons to sort'), h('thead', {}, h('tr', {}, ...headers)), tbody);
  const prev = h('button', { type: 'button', id: 'page-prev' }, '‹ Previous');
  const next = h('button', { type: 'button', id: 'page-next' }, 'Next ›');
  const pageInfo = h('span', { class: 'muted', id: 'page-info' });
  prev.addEventListener('click', () => {
    page = Math.max(0, page - 1);
    render();
  });
  next.addEventListener('click', () => {
    page++;
    render();
  });
  const el = h(
    'div',
    { class: 'device-table' },
    h('div', { class: 'toolbar' }, filter, statusSelect, count),
    h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'pager' }, prev, pageInfo, next),
  );

  const total = (id: string): number => {
    const byType = anomalies.get(id);
    return byType ? Object.values(byType).reduce((a, b) => a + b, 0) : 0;
  };

  const shows = (d: Row): boolean =>
    status === 'all' || (status === 'rejected' ? isRejected(d) : !isRejected(d) && d.online === (status === 'online'));

  function sorted(): Row[] {
    const rows = [...devices, ...rejected].filter((d) => shows(d) && (filterText === '' || d.deviceId.toLowerCase().includes(filterText)));
    const dir = ascending ? 1 : -1;
    // A device without readings sorts below every temperature and time, and below offline.
    const value = (d: Row): string | number => {
      switch (sortKey) {
        case 'deviceId':
          return d.deviceId;
        case 'lastTemperature':
          return isRejected(d) ? -Number.MAX_VALUE : d.lastTemperature;
        case 'lastSeen':
          return isRejected(d) ? -Number.MAX_VALUE : Date.parse(d.lastSeen);
        case 'online':
          return isRejected(d) ? -1 : d.online ? 1 : 0;
        case 'anomalies':
          return total(d.deviceId);
      }
    };
    // Keys computed once per row, one shared collator: sorting 1,000 rows stays in the low milliseconds.
    const keyed = rows.map((d) => ({ d, v: value(d) }));
    keyed.sort((a, b) => {
      const c = typeof a.v === 'string' ? COLLATOR.compare(a.v, b.v as string) : a.v - (b.v as number);
      return c !== 0 ? c * dir : COLLATOR.compare(a.d.deviceId, b.d.deviceId);
    });
    return keyed.map((k) => k.d);
  }

  function anomalyCell(id: string): HTMLTableCellElement {
    const byType = anomalies.get(id);
    const td = h('td', { class: 'anoms' });
    if (!byType || Object.keys(byType).length === 0) td.append(h('span', { class: 'muted' }, '–'));
    for (const [type, n] of Object.entries(byType ?? {}).sort()) {
      td.append(h('span', { class: 'chip', style: `--chip:${anomalyColor(type)}`, title: `${n} ${type} in the last hour` }, `${type} ${n}`));
    }
    return td;
  }

  // The link follows the table, replaced rather than a history entry per keystroke, and a moment after the last
  // change (browsers refuse more than so many replaceState calls in a few seconds); only while the overview's link is
  // the address: a device's link being opened is not overwritten.
  let linkTimer: ReturnType<typeof setTimeout> | undefined;
  function syncLink(): void {
    clearTimeout(linkTimer);
    linkTimer = setTimeout(() => {
      const link = tableHash(kept, DEFAULTS);
      if (!table.isConnected || !/^#?\/?(\?|$)/.test(location.hash) || link === (location.hash || '#/')) return;
      try {
        history.replaceState(null, '', link);
      } catch {
        // over the browser's limit: the link catches up at the next change
      }
    }, 250);
  }

  function render(): void {
    const rows = sorted();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(page, pages - 1);
    Object.assign(kept, { sortKey, ascending, page, filter: filter.value, status });
    syncLink();
    const shown = rows.slice(page * PAGE, page * PAGE + PAGE);
    const now = Date.now();
    // Rows are redrawn on every refresh: keep the keyboard focus on the same device's link.
    const active = document.activeElement;
    const focused = active instanceof HTMLElement && tbody.contains(active) ? active.closest('tr')?.dataset.device : undefined;
    tbody.replaceChildren(
      ...shown.map((d) => {
        if (isRejected(d)) return rejectedRow(d);
        const seen = Date.parse(d.lastSeen);
        const href = `#/devices/${encodeURIComponent(d.deviceId)}`;
        const spark = sparks.get(d.deviceId);
        return h(
          'tr',
          { 'data-device': d.deviceId },
          h('th', { scope: 'row' }, h('a', { href, title: d.deviceId }, d.deviceId)),
          h('td', { class: 'num' }, fmtTemp(d.lastTemperature)),
          h('td', { class: 'col-seen', title: fmtDateTime(seen) }, fmtAgo(seen, now)),
          h('td', {}, h('span', { class: `status ${d.online ? 'online' : 'offline'}` }, d.online ? 'online' : 'offline')),
          showAnomalies && anomalyCell(d.deviceId),
          h('td', { class: 'col-spark' }, sparkline(spark?.values ?? [])),
        );
      }),
    );
    if (focused !== undefined) tbody.querySelector<HTMLElement>(`tr[data-device="${CSS.escape(focused)}"] a`)?.focus({ preventScroll: true });
    const all = devices.length + rejected.length;
    if (shown.length === 0) tbody.append(h('tr', {}, h('td', { colspan: columns.length, class: 'muted empty' }, all === 0 ? 'No device has reported yet.' : 'No device matches the filter.')));
    for (const th of headers) {
      const key = th.dataset.key;
      if (key === undefined) continue;
      th.setAttribute('aria-sort', key === sortKey ? (ascending ? 'ascending' : 'descending') : 'none');
    }
    setText(count, `${fmtNum(rows.length)} of ${fmtNum(all)} devices`);
    setText(pageInfo, rows.length === 0 ? '' : `${fmtNum(page * PAGE + 1)}–${fmtNum(page * PAGE + shown.length)} of ${fmtNum(rows.length)}`);
    // A button disabled under the focus drops it to the page's body: hand it to the other one.
    const pagerFocus = document.activeElement === prev || document.activeElement === next ? document.activeElement : null;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    if (pagerFocus === prev && prev.disabled && !next.disabled) next.focus();
    if (pagerFocus === next && next.disabled && !prev.disabled) prev.focus();
    void loadSparks(shown.filter((d): d is Device => !isRejected(d)));
  }

  /** A device heard whose every message was rejected: no figures, its state and why (its page lists the messages). */
  function rejectedRow(r: Rejections): HTMLTableRowElement {
    const reasons = Object.entries(r.byReason).sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${reason.replaceAll('_', ' ')}: ${fmtNum(n)}`).join(', ');
    const messages = `${fmtNum(r.total)} message${r.total === 1 ? '' : 's'}`;
    return h(
      'tr',
      { 'data-device': r.deviceId, class: 'rejected' },
      h('th', { scope: 'row' }, h('a', { href: `#/devices/${encodeURIComponent(r.deviceId)}`, title: r.deviceId }, r.deviceId)),
      h('td', { class: 'num muted' }, '–'),
      h('td', { class: 'col-seen muted' }, '–'),
      h('td', {}, h('span', { class: 'status rejected', title: `No reading accepted: ${messages} rejected (${reasons})` }, 'rejected'), ' ', h('span', { class: 'muted' }, `every message: ${messages} (${reasons})`)),
      showAnomalies && h('td', { class: 'anoms' }, h('span', { class: 'muted' }, '–')),
      h('td', { class: 'col-spark' }),
    );
  }

  async function loadSparks(shown: Device[]): Promise<void> {
    const s = spec();
    if (!s) return;
    const now = Date.now();
    const stale = shown.filter((d) => (sparks.get(d.deviceId)?.t ?? 0) < now - SPARK_TTL_MS);
    for (const d of stale) sparks.set(d.deviceId, { t: now, values: sparks.get(d.deviceId)?.values ?? [] });
    await Promise.all(
      stale.map(async (d) => {
        try {
          const rows = await api.windows({ deviceId: d.deviceId, spec: s, from: now - SPARK_POINTS * s.slideMs - s.lengthMs, limit: SPARK_POINTS + 10 });
          const values = withReadings(rows).slice(-SPARK_POINTS).map((w) => w.avg);
          sparks.set(d.deviceId, { t: now, values });
          const cell = tbody.querySelector(`tr[data-device="${CSS.escape(d.deviceId)}"] .col-spark`);
          cell?.replaceChildren(sparkline(values));
        } catch {
          // no sparkline this time; the connection badge says why
        }
      }),
    );
  }

  return {
    el,
    update(next, byDevice, rejectedOnly = []) {
      devices = next;
      rejected = rejectedOnly;
      if (byDevice) anomalies = byDevice;
      render();
    },
  };
}
