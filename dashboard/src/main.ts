// The dashboard's entry: the shell (header, navigation, connection badge), the hash router and the live feed.
import { discover, startLive } from './api.ts';
import { applyTheme } from './charts.ts';
import { connection, type LinkState } from './connection.ts';
import { $, setText } from './dom.ts';
import { createDeviceView } from './device-view.ts';
import { createEngineView } from './engine-view.ts';
import { fmtTime } from './format.ts';
import { decoded } from './hash.ts';
import { createOverview } from './overview.ts';
import { recordBatch, recordStats } from './state.ts';
import type { View } from './view.ts';

const BADGE: Record<LinkState, string> = {
  connecting: 'connecting…',
  stream: 'live',
  polling: 'live (polling)',
  reconnecting: 'disconnected, reconnecting…',
};

let view: View | null = null;

function route(): void {
  const hash = decoded(location.hash.replace(/^#\/?/, ''));
  view?.destroy();
  const main = $('#view');
  main.replaceChildren();
  const device = /^devices\/(.+)$/.exec(hash);
  // The engine view takes no parameters: `#/engine?…` or `#/engine/` is still the engine view.
  const engine = /^engine\/?(\?.*)?$/.test(hash);
  if (device) view = createDeviceView(main, device[1]);
  else if (engine) view = createEngineView(main);
  else view = createOverview(main);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    const current = a.dataset.view === (device ? 'devices' : engine ? 'engine' : 'overview');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.focus({ preventScroll: true });
}

async function start(): Promise<void> {
  applyTheme();
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    applyTheme();
    route(); // the views read their colours when they draw their charts
  });
  const badge = $('#link');
  const stale = $('#stale');
  connection.on((s) => {
    setText(badge, BADGE[s]);
    badge.dataset.state = s;
    // The views keep what they last drew ("Last seen 0 s ago", "online"): say since when it is old.
    const since = connection.downSince;
    stale.hidden = since === null;
    $('#view').toggleAttribute('data-stale', since !== null);
    if (since !== null) setText(stale, `No answer from the server since ${fmtTime(since)}. The figures below are as of then; the page reconnects by itself.`);
  });
  await discover();
  window.addEventListener('hashchange', route);
  route();
  // A hidden tab draws nothing for nobody: the live feed goes on (the stats keep the badge and the engine's history),
  // the views wait, and read everything again when the tab is shown.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) view?.reload();
  });
  const shown = (): View | null => (document.hidden ? null : view);
  await startLive({
    stats(s) {
      recordStats(s);
      shown()?.onStats?.(s);
    },
    sample(b) {
      recordBatch(b);
      shown()?.onSample?.();
    },
    committed() {
      shown()?.onBatch?.();
    },
    anomaly(a) {
      shown()?.onAnomaly?.(a);
    },
    reset() {
      shown()?.reload(); // hidden, the reload comes when the tab is shown
    },
  });
}

void start();
