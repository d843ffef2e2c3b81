/** Library entry point of the thermostat fleet simulator. */
export { createFleet, type Fleet, type FleetCounters, type FleetDeps, type Injected, type Progress, type Summary } from './fleet.ts';
export { resolveOptions, DEFAULTS, type FleetOptions, type ResolvedOptions } from './options.ts';
export { createSource, type Source, type SourceOptions } from './source.ts';
export { ANOMALY_TYPES, type AnomalyType, type AnomalyEvent, type TruthRecord } from './anomalies.ts';
export { BAD_KINDS, type BadKind } from './faults.ts';
export { transports, type Transport, type TransportFactory, type TransportOptions, type Message } from './transport.ts';
export { ErrorCodes, SimulatorError } from './errors.ts';
export { deviceIds, encodeReading, telemetryTopic, type Reading } from './reading.ts';
export type { Scenario, ScenarioEvent } from './scenario.ts';
