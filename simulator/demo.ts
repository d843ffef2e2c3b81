/**
 * The built-in demo fleet (`npm run demo`): 20 thermostats, 40 readings/s in total, a few anomalies an hour,
 * publishing to the server's own broker until stopped.
 */
import { createFleet, type Fleet } from './fleet.ts';

export const DEMO_OPTIONS = { devices: 20, rate: 40, seed: 1, qos: 1, anomalies: 4 } as const;

/** Starts the demo fleet once all its connections are up; resolves to a function that stops it and waits. */
export async function startDemoFleet(url: string, timeoutMs = 10_000): Promise<() => Promise<void>> {
  const fleet: Fleet = createFleet({ url, ...DEMO_OPTIONS, connectTimeout: timeoutMs / 1000 });
  const running = fleet.run();
  const connected = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (fleet.progress().connected >= DEMO_OPTIONS.devices) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    // run() settles early only on failure (it runs until stopped); stop polling then.
    running.then(
      () => clearInterval(timer),
      () => clearInterval(timer),
    );
  });
  await Promise.race([connected, running]);
  return async () => {
    fleet.stop();
    await running;
  };
}
