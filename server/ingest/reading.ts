/** One accepted temperature reading, as it flows from ingest through the engine. Times are epoch ms UTC. */
export interface Reading {
  deviceId: string;
  /** Event time: the device's `ts`, or the arrival time when it sent none. */
  ts: number;
  temperature: number;
  humidity: number | undefined;
  seq: number | undefined;
  /** When the server accepted it. */
  arrival: number;
}
