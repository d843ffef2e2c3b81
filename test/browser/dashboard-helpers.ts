import type { TestContext } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { resolveConfig } from '../../server/config.ts';
import { startThermostream, type Thermostream } from '../../server/main.ts';
import { connect, ensureDashboardBuilt, tempDir, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';

export { ensureDashboardBuilt } from '../helpers.ts';

/** A server a test stops and starts again on one data dir, with hall's last 20 s of readings, and a watched page. */
export interface RestartableHall {
  /** The first run (on a free HTTP port); the test closes it, and whichever run it started after it. */
  app: Thermostream;
  /** Starts another run on the same data dir: on `httpPort` (the page's, to come back), or 0 for a free one. */
  start(httpPort: number): Promise<Thermostream>;
  /** The first run's HTTP port. */
  port: number;
  /** Connected to the first run's broker. */
  first: MqttClient;
  page: Page;
  /** What went wrong in the page (watchPage). */
  problems: string[];
}

export async function restartableHall(t: TestContext, extraConfig: Record<string, unknown> = {}): Promise<RestartableHall> {
  await ensureDashboardBuilt();
  const dataDir = tempDir(t);
  const start = (httpPort: number) =>
    startThermostream(resolveConfig({ host: '127.0.0.1', http: { port: httpPort }, mqtt: { port: 0, tlsPort: -1 }, dataDir, batchIntervalMs: 100, ...extraConfig }));
  const app = await start(0);
  const port = Number(new URL(app.httpUrl).port);
  const first = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(first, ['hall'], 20_000, 1000));
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  return { app, start, port, first, page, problems: watchPage(page) };
}

/**
 * Everything that went wrong in the page as a user's console would show it: uncaught errors, console errors,
 * failed requests and HTTP answers of 400 or more.
 */
export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return problems;
}

/**
 * The problems (watchPage) a page has while its server is away: connection failures, and fastify's 503
 * (return503OnClosing) to a request that reaches the server while it closes, on a kept-alive connection.
 */
export const SERVER_AWAY = /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|Failed to fetch|ERR_ABORTED|^HTTP 503: GET \S+\/api\/v1\/\S+$|status of 503 \(Service Unavailable\)/;

/** A plausible indoor temperature for device `i` at `ts`: its own level, a slow swing and a little noise. */
export function temperatureAt(i: number, ts: number): number {
  const level = 19 + ((i * 7) % 9) * 0.5;
  const swing = 0.8 * Math.sin(ts / 90_000 + i);
  const noise = 0.15 * Math.sin(ts / 3_700 + i * 13) + 0.1 * Math.sin(ts / 1_300 + i * 5);
  return Math.round((level + swing + noise) * 100) / 100;
}

/**
 * Publishes `spanMs` of history up to now for each device, one reading every `everyMs`, in event-time order across
 * the fleet (so none is late), batched as arrays per device and step. Returns the number of readings.
 */
export async function publishHistory(client: MqttClient, devices: readonly string[], spanMs: number, everyMs: number, now = Date.now()): Promise<number> {
  let n = 0;
  const steps = Math.floor(spanMs / everyMs);
  const chunk = Math.max(1, Math.floor(10_000 / everyMs)); // ten seconds of readings per message
  for (let s = 0; s < steps; s += chunk) {
    await Promise.all(
      devices.map((id, i) => {
        const readings = [];
        for (let k = s; k < Math.min(steps, s + chunk); k++) {
          const ts = now - spanMs + k * everyMs;
          readings.push({ ts, temperature: temperatureAt(i, ts), humidity: 40 + (i % 10) });
        }
        n += readings.length;
        return client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(readings), { qos: 1 });
      }),
    );
  }
  return n;
}

/** Keeps publishing one reading per device every `everyMs` until the test ends (bounded by `maxTicks`). */
export function keepPublishing(t: TestContext, client: MqttClient, devices: readonly string[], everyMs = 500, maxTicks = 600): void {
  let ticks = 0;
  const timer = setInterval(() => {
    if (++ticks > maxTicks) return clearInterval(timer);
    const ts = Date.now();
    devices.forEach((id, i) => {
      client.publish(`devices/${id}/telemetry`, JSON.stringify({ ts, temperature: temperatureAt(i, ts) }), { qos: 0 });
    });
  }, everyMs);
  t.after(() => clearInterval(timer));
}

/** The points of one dataset of a chart on the page, found by its canvas id and dataset label. */
export function chartPoints(page: Page, canvasId: string, label: string): Promise<{ x: number; y: number }[]> {
  return page.evaluate(
    ([id, l]) => {
      const chart = (window as any).Chart?.getChart(id);
      const ds = chart?.data.datasets.find((d: { label: string }) => d.label === l);
      return ds ? ds.data : [];
    },
    [canvasId, label] as const,
  );
}
