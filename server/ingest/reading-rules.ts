/** What a reading's fields must meet (DESIGN.md's payload contract), shared by both decode paths. */

export const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
/** The range a temperature sensor can report (°C); beyond it a value is an encoding error, not an anomaly. */
export const TEMPERATURE_RANGE = [-273.15, 1000] as const;
/** IoT Hub's limit for a message id. */
export const MAX_MESSAGE_ID = 128;
/** Epoch milliseconds that a Date can hold. */
export const MAX_EPOCH_MS = 8.64e15;
