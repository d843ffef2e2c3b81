// The device twin (5/9): reported properties, the setpoint as a desired property the user can change, and whether
// the device has acknowledged it (its reported setpoint equals the desired one).
import { api, apiToken, HttpError, type Props, type Twin } from './api.ts';
import { h, setText } from './dom.ts';
import { fmtDateTime } from './format.ts';

const PENDING_POLL_MS = 2000;
const REFRESH_MS = 5000;

const visible = (p: Props): [string, unknown][] => Object.entries(p).filter(([k]) => !k.startsWith('$'));
const show = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** IoT Hub keeps `$metadata.{key}.$lastUpdated` per property. */
function lastUpdated(p: Props, key: string): number | null {
  const meta = (p.$metadata as Record<string, { $lastUpdated?: string }> | undefined)?.[key]?.$lastUpdated;
  return meta ? Date.parse(meta) : null;
}

export function createTwinPanel(deviceId: string): { el: HTMLElement; refresh(): void; destroy(): void } {
  const reportedRows = h('tbody');
  const input = h('input', { type: 'number', id: 'setpoint', step: '0.5', min: '5', max: '35', inputmode: 'decimal', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Set');
  const ack = h('p', { id: 'setpoint-ack', class: 'ack', role: 'status' });
  // The server's API token (http.apiToken), asked for when a write is refused with 401; kept for this tab only.
  const tokenInput = h('input', { type: 'password', id: 'api-token', autocomplete: 'off', spellcheck: 'false' });
  const tokenRow = h('div', { class: 'token', hidden: apiToken.get() === null }, h('label', { for: 'api-token' }, 'API token (the server\'s http.apiToken)'), tokenInput);
  const form = h('form', { class: 'setpoint' }, h('label', { for: 'setpoint' }, 'Desired setpoint (°C)'), h('div', { class: 'row' }, input, submit), tokenRow, ack);
  const el = h(
    'section',
    { class: 'card', id: 'twin', hidden: true },
    h('h2', {}, 'Device twin'),
    h('div', { class: 'twin-grid' }, form, h('table', { class: 'kv' }, h('caption', {}, 'Reported by the device'), reportedRows)),
  );

  let twin: Twin | null = null;
  let editing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let destroyed = false;
  let gone = false;
  let lastLoad = 0;
  input.addEventListener('focus', () => (editing = true));
  input.addEventListener('blur', () => (editing = false));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = Number(input.value);
    if (!Number.isFinite(value)) return;
    if (tokenInput.value.trim() !== '') apiToken.set(tokenInput.value.trim());
    submit.disabled = true;
    setText(ack, 'Sending…');
    delete ack.dataset.state;
    api
      .setDesired(deviceId, { setpoint: value })
      .then((t) => {
        twin = t;
        render();
      })
      .catch((err: unknown) => {
        ack.dataset.state = 'error';
        if (err instanceof HttpError && err.status === 401) {
          const had = apiToken.get() !== null;
          apiToken.set(null);
          tokenInput.value = '';
          tokenRow.hidden = false;
          setText(ack, had ? 'Not sent: the server refused the API token. Enter the right one (http.apiToken) and press Set again.' : 'Not sent: this server needs its API token (http.apiToken) for changes. Enter it above and press Set again.');
          tokenInput.focus();
          return;
        }
        setText(ack, `Not sent: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => (submit.disabled = false));
  });

  function render(): void {
    if (twin === null) return;
    el.hidden = false;
    const desired = twin.desired.setpoint;
    const reported = twin.reported.setpoint;
    if (!editing && typeof desired === 'number') input.value = String(desired);
    const props = visible(twin.reported);
    reportedRows.replaceChildren(
      ...(props.length === 0 ? [h('tr', {}, h('td', { class: 'muted' }, 'nothing reported yet'))] : props.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, show(v))))),
    );
    clearTimeout(timer);
    if (desired === undefined) {
      setText(ack, 'No setpoint requested yet.');
      ack.dataset.state = 'none';
    } else if (reported === desired) {
      const at = lastUpdated(twin.reported, 'setpoint');
      setText(ack, `✓ Acknowledged by the device${at ? ` at ${fmtDateTime(at)}` : ''}: ${show(reported)} °C`);
      ack.dataset.state = 'acknowledged';
    } else {
      setText(ack, `Waiting for the device to report ${show(desired)} °C${reported !== undefined ? ` (it reports ${show(reported)} °C)` : ''}…`);
      ack.dataset.state = 'pending';
      timer = setTimeout(() => void load(), PENDING_POLL_MS);
    }
  }

  async function load(): Promise<void> {
    try {
      twin = await api.twin(deviceId);
      if (!destroyed) render();
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) {
        gone = true; // not in the registry: no twin to show
        el.hidden = true;
      }
    }
  }

  return {
    el,
    refresh: () => {
      if (gone || Date.now() - lastLoad < REFRESH_MS) return;
      lastLoad = Date.now();
      void load();
    },
    destroy() {
      destroyed = true;
      clearTimeout(timer);
    },
  };
}
