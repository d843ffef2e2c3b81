// Thermostream dashboard: polls the HTTP API and draws rolling window averages with chart.js (served locally).
/* global Chart */
'use strict';

const REFRESH_MS = 2000;
const MAX_DEVICE_LINES = 8;
const POINTS = 60;
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

const timeLabel = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

const chart = new Chart(document.getElementById('chart'), {
  type: 'line',
  data: { datasets: [] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    interaction: { mode: 'nearest', intersect: false },
    scales: {
      x: { type: 'linear', title: { display: true, text: 'window end' }, ticks: { callback: timeLabel } },
      y: { title: { display: true, text: '°C (window average)' } },
    },
    plugins: { tooltip: { callbacks: { title: (items) => timeLabel(items[0].parsed.x) } } },
  },
});

async function getJson(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function series(label, windows, color, fleet) {
  return {
    label,
    data: windows.map((w) => ({ x: Date.parse(w.end), y: w.avg })),
    borderColor: color,
    backgroundColor: color,
    borderWidth: fleet ? 3 : 1.5,
    borderDash: fleet ? [6, 3] : [],
    pointRadius: 0,
  };
}

function renderDevices(devices) {
  const body = document.querySelector('#devices tbody');
  body.replaceChildren(
    ...devices.map((d) => {
      const tr = document.createElement('tr');
      const cells = [d.deviceId, d.lastTemperature.toFixed(1), String(d.readings), timeLabel(Date.parse(d.lastSeen))];
      for (const text of cells) tr.appendChild(Object.assign(document.createElement('td'), { textContent: text }));
      const status = Object.assign(document.createElement('td'), { textContent: d.online ? 'online' : 'offline' });
      status.className = d.online ? 'online' : 'offline';
      tr.appendChild(status);
      return tr;
    }),
  );
}

function renderStats(s) {
  const wm = s.watermark ? timeLabel(Date.parse(s.watermark)) : '–';
  document.getElementById('stats').textContent =
    `${s.batches} batches · ${Math.round(s.inputRate)} readings/s · watermark ${wm} · ` +
    `${s.accepted} accepted · ${s.late} late · ${s.duplicates} duplicates · ${s.rejected.total} rejected`;
}

async function refresh() {
  const [stats, devices, fleet] = await Promise.all([
    getJson('/api/v1/stats'),
    getJson('/api/v1/devices'),
    getJson(`/api/v1/windows?limit=${POINTS}`),
  ]);
  renderStats(stats);
  renderDevices(devices.items);
  const shown = devices.items.filter((d) => d.online).slice(0, MAX_DEVICE_LINES);
  const perDevice = await Promise.all(
    shown.map((d) => getJson(`/api/v1/windows?deviceId=${encodeURIComponent(d.deviceId)}&limit=${POINTS}`)),
  );
  const first = fleet.items[0];
  if (first) document.getElementById('window-spec').textContent = `${first.lengthMs / 1000} s windows every ${first.slideMs / 1000} s`;
  chart.data.datasets = [
    series('fleet', fleet.items, '#1d2430', true),
    ...perDevice.map((w, i) => series(shown[i].deviceId, w.items, COLORS[i % COLORS.length], false)),
  ];
  chart.update();
}

async function loop() {
  const error = document.getElementById('error');
  try {
    await refresh();
    error.hidden = true;
  } catch (err) {
    error.textContent = `Cannot reach the server: ${err.message}`;
    error.hidden = false;
  }
  setTimeout(loop, REFRESH_MS);
}

loop();
