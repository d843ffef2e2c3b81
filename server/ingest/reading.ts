/** One accepted temperature reading, as it flows from ingest through the engine. Times are epoch ms UTC. */
export interface Reading {
  deviceId: string;
  /** Event time: the device's `ts`, or the arrival time when it sent none (then tsFilled). */
  ts: number;
  /**
   * The device sent no `ts`: `ts` is the arrival time the server filled in. Absent when the device stamped it (also
   * at a `ts` equal to the arrival time: dedupe tells a restarted counter from a resend by the device's timestamps).
   */
  tsFilled?: true;
  temperature: number;
  humidity: number | undefined;
  seq: number | undefined;
  /**
   * The device's own message id (IoT Hub's `$.mid` property), for readings without `seq`: a resend of the same
   * message (after a lost PUBACK or a server crash) carries the same id, and dedupe counts it once.
   */
  messageId?: string;
  /** When the server accepted it. */
  arrival: number;
}

/**
 * A reading to be filled again and again (a decoder's, for one message or chunk at a time): every field present, the
 * optional ones undefined, so that all such objects keep one shape.
 */
export function blankReading(): Reading {
  return { deviceId: '', ts: 0, tsFilled: undefined, temperature: 0, humidity: undefined, seq: undefined, messageId: undefined, arrival: 0 };
}

/** A copy of a reading to keep, with the fields it has (a reading a decoder fills again has every field, some undefined). */
export function copyReading(r: Reading): Reading {
  const copy: Reading = { deviceId: r.deviceId, ts: r.ts, temperature: r.temperature, humidity: r.humidity, seq: r.seq, arrival: r.arrival };
  if (r.tsFilled === true) copy.tsFilled = true;
  if (r.messageId !== undefined) copy.messageId = r.messageId;
  return copy;
}
