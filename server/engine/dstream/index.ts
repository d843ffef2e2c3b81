/** Spark Streaming–style DStream API (see docs/ENGINE.md). */
export { StreamingContext, type ContextState, type StreamingContextOptions } from './context.ts';
export {
  DStream,
  type BatchFn,
  type Pair,
  type ReduceByKeyAndWindowOptions,
  type StreamSpec,
} from './dstream.ts';
export { DStreamError, DStreamErrorCodes, type DStreamErrorCode } from './errors.ts';
export { formatRecord, printLines } from './format.ts';
export {
  InputDStream,
  PushInputDStream,
  type InputSource,
  type Receiver,
  type ReceiverSink,
} from './input.ts';
export { isIgnoredFileName, type TextFileOptions } from './file.ts';
export type { SocketTextOptions } from './socket.ts';
export type { BatchInfo, StreamingStats } from './stats.ts';
export type { UpdateStateFn, UpdateStateOptions } from './state.ts';
export { TelemetryDStream, type Reading, type TelemetryStreamOptions } from './telemetry-stream.ts';
