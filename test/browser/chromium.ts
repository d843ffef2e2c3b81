import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { systemBinary, type Found } from '../system.ts';

/** The flags every test browser runs with: no sandbox (root in CI), and no traffic beyond loopback. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * The browser for the dashboard tests (see test/system.ts for the rule): CHROMIUM_PATH when set; else Debian's
 * /usr/bin/chromium when present; else the headless Chromium that the npm package @sparticuz/chromium carries in
 * its tarball (a devDependency, extracted to the temp dir on first use). Never a browser downloaded from elsewhere.
 */
export async function findChromium(): Promise<Found> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return { path: fromEnv, source: `CHROMIUM_PATH=${fromEnv}` };
  const system = systemBinary('/usr/bin/chromium');
  if (system !== null) return { path: system, source: `the system's ${system}` };
  const { default: packaged } = await import('@sparticuz/chromium');
  return { path: await packaged.executablePath(), source: 'the npm package @sparticuz/chromium' };
}

/** Launches the test browser, says in the test output which one ran, and closes it when the test ends. */
export async function launchChromium(t: TestContext, extraArgs: readonly string[] = []): Promise<Browser> {
  const found = await findChromium();
  const browser = await chromium.launch({ executablePath: found.path, args: [...CHROMIUM_ARGS, ...extraArgs] });
  t.diagnostic(`browser: Chromium ${browser.version()} from ${found.source}`);
  t.after(() => browser.close());
  return browser;
}
