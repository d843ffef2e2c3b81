/** The built-in telemetry job (batch id 0): always running while the server is, described from the engine's figures. */
import type { Config } from '../config.ts';
import type { EngineStats } from '../engine/index.ts';

export const TELEMETRY_JOB_ID = 0;
export const TELEMETRY_JOB_NAME = 'telemetry';

export function describeTelemetryJob(config: Config, stats: EngineStats): string[] {
  const windows = config.windows.map((w) => `${w.lengthMs}/${w.slideMs} ms`).join(', ');
  const lines = [
    `built-in telemetry job (server/engine/telemetry.ts): MQTT readings → ${config.timeMode}-time windows (${windows}) → SQLite`,
    `batch interval ${stats.batchIntervalMs} ms; batches ${stats.batches}, records ${stats.records}, ` +
      `input rate ${stats.inputRate.toFixed(1)}/s, late ${stats.late}, duplicates ${stats.duplicates}, replayed ${stats.replayed}`,
  ];
  const b = stats.lastBatch;
  if (b) {
    lines.push(
      `last batch ${new Date(b.batchTime).toISOString()}: ${b.records} records, ${b.windowsUpdated} windows updated, ` +
        `processing ${b.processingMs} ms (job ${b.jobMs} ms, commit ${b.commitMs} ms), scheduling delay ${b.schedulingDelayMs} ms, ` +
        `log offset ${b.logOffset}`,
    );
  }
  return lines;
}
