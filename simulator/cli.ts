/**
 * Thermostat fleet simulator CLI: `npm run simulate -- --devices 20 --rate 40 --duration 60 --url mqtt://127.0.0.1:1883`.
 * Exit codes: 0 all readings delivered; 1 cannot connect, or readings lost; 2 invalid options.
 */
import { parseArgs } from 'node:util';
import { endQuietlyOnEpipe } from '../server/output-closed.ts';
import { SignalRepeats } from '../server/stop-signals.ts';
import { ANOMALY_TYPES, type AnomalyType } from './anomalies.ts';
import { invalidOption, ErrorCodes, SimulatorError } from './errors.ts';
import { BAD_KINDS } from './faults.ts';
import { fromUserDir } from './files.ts';
import { createFleet, type Fleet, type Summary } from './fleet.ts';
import { DEFAULTS, type FleetOptions } from './options.ts';
import { replayWarnings } from './replay-warnings.ts';
import { scenarioWarning } from './scenario.ts';
import { transports } from './transport.ts';

const HELP = `Usage: npm run simulate -- [options]
       node --import tsx simulator/cli.ts [options]

Simulates a fleet of thermostats publishing readings to devices/{deviceId}/telemetry (--transport mqtt),
or as Azure IoT SDK devices to devices/{deviceId}/messages/events/ (--transport azure).

Fleet and rate
  --devices N             number of devices (ids thermostat-0001…)            default ${DEFAULTS.devices}
  --device-prefix S       device id prefix                                     default ${DEFAULTS.devicePrefix}
  --rate R                readings per second, whole fleet                     default ${DEFAULTS.rate}
  --duration D            seconds of wall-clock time (rate × D readings)       default: until Ctrl-C
  --count N               total readings (stops at whichever of count/duration comes first)
  --seed S                PRNG seed (integer); same seed + options = same readings   default ${DEFAULTS.seed}

Simulated time
  --start ISO             simulated time of the first reading, with a zone, e.g. 2026-11-24T10:00:00Z
                          default: live (a paced run's readings carry ts ≈ now)
  --speedup K             simulated seconds per wall-clock second; with K > 1 simulated time
                          starts in the past and ends at the present     default ${DEFAULTS.speedup}

Output
  --url URL               broker, mqtt://host:1883 (also mqtts://, ws://, wss://: the path /mqtt unless given);
                          without it nothing is published (except with --transport azure)
  --out FILE.jsonl        write every generated reading as a JSON line {deviceId, ts, temperature, humidity, seq}.
                          Without --url the run is not paced: it generates as fast as it can
                          (timestamps are the same as a paced run's) and needs --count or --duration
  --truth FILE.jsonl      write anomaly ground truth, one JSON line per anomaly
  --replay FILE           publish a recording instead of simulated readings, one message per record, in the
                          file's order, paced by --rate (--count/--duration may cut it short): JSON lines as
                          --out writes them, or CSV whose header row names the fields (deviceId required; a
                          cell that reads as a number is sent as one; a header with semicolons and no comma
                          means cells separated by semicolons, numbers with decimal commas: 21,5; one with
                          tabs and neither, cells separated by tabs). Each record is sent as recorded, its ts
                          included (a zoned time written otherwise, 2024-03-01 10:00:00+00:00 or 2024-03-01
                          10:00:00 UTC, goes as ISO 8601): the server judges it (and dead-letters a bad one) as
                          it would the device
  A recording made elsewhere (a building-management export, a public dataset), read as told, never guessed:
  --fields F=COL,…        the recording's column (CSV) or key (JSON) for each of our fields, F one of
                          deviceId, ts, temperature, humidity, seq, messageId; other columns keep their names
                          e.g. --fields deviceId=device_id,ts=timestamp,temperature=temp_c,humidity=rh
                          A+B: the cells of two columns joined by a space (a date and a time apart: ts=date+time)
                          JSON: a name with dots is a path into nested objects (a string on it that holds
                          JSON, or base64 of it, is read as that JSON), e.g. Azure IoT Hub routing's
                          --fields deviceId=SystemProperties.connectionDeviceId,ts=EnqueuedTimeUtc,temperature=Body.temperature
  --device ID             a recording of one device, without a deviceId column: every record gets this id
  --columns A,B,…         a file without a header row: its columns' names, in order (then --fields maps them);
                          cells separated by commas, or, a first line without one, by runs of spaces or tabs
                          e.g. the Intel Berkeley lab's data.txt:
                          --columns date,time,epoch,moteid,temperature,humidity,light,voltage
                          --fields deviceId=moteid,ts=date+time,seq=epoch --ts-zone America/Los_Angeles
  --ts-zone Z             the zone of its times without one (2024-03-01 10:00:00): UTC, +01:00, -0500, or an
                          IANA zone (Europe/Berlin; DST-aware); sent as 2024-03-01T10:00:00+01:00 (in UTC
                          when the zone's offset then has seconds, e.g. a historical local mean time)
                          default: sent as recorded, which the server refuses (the run warns first)
  --ts-format F           how its times are written when not as ISO 8601, read in --ts-zone (needed): tokens
                          YYYY MM DD HH mm ss SSS A (AM/PM), other characters as written (MM, DD, HH: 1 or 2
                          digits), e.g. "DD-MM-YYYY HH:mm" (08-12-2018 09:30), "MM/DD/YYYY HH:mm:ss A"
                          (3/1/2024 1:05:00 PM); a time it does not read stops the run (exit 2). Without it
                          a date such as 08-12-2018 is not guessed: the run warns, naming both orders
  --ts-unit s|ms|us|ns    the unit of its numeric times (epoch seconds, milliseconds, microseconds,
                          nanoseconds: InfluxDB's CSV); s, us, ns: sent as epoch ms  default ms (as recorded)
  --temperature-unit U    the unit of its temperatures: c (°C), f (°F) or k (kelvins); f and k are sent
                          as °C, to 0.01 °C                                    default c (as recorded)
  --quiet                 no progress line
  --json                  print the summary as JSON

Transport
  --transport NAME        ${Object.keys(transports).join(' | ')}                                         default ${DEFAULTS.transport}
  --qos 0|1               MQTT QoS                                             default ${DEFAULTS.qos}
  --batch-size N          readings per message (N > 1 sends JSON arrays)       default ${DEFAULTS.batchSize}
  --connections N         MQTT connections, devices shared round-robin        default: one per device, at most ${DEFAULTS.maxConnections}
                          (--replay: 1, so the server takes the records in the file's order)
  --max-inflight N        unacknowledged messages per connection               default ${DEFAULTS.maxInFlight}
  --connect-timeout S     seconds to wait for every connection                 default ${DEFAULTS.connectTimeout}
  --drain-timeout S       seconds to wait for outstanding acks at the end      default ${DEFAULTS.drainTimeout}
  --username U, --password P
  --ca FILE.pem           CA to trust for TLS: the server's data/tls/ca.pem for an mqtts:// --url or
                          azure's MQTT-TLS (a wss:// proxy's CA for wss://); or NODE_EXTRA_CA_CERTS

Azure IoT Hub transport (--transport azure: one azure-iot-device SDK client per device, SAS auth, QoS 1,
a messageId on every message, the twin's desired setpoint applied to the model and reported back)
  --registry URL          server base URL, http://host:8080: its registry creates the devices that are
                          missing and gives their connection strings
  --connection-strings F  file of connection strings (one per line, or JSON); the devices are the file's
  --api-token T           bearer token for --registry (the server's http.apiToken)
  --url URL               optional: default MQTT over TLS to the connection string's HostName;
                          mqtts://host:port, mqtt://host:port (no TLS), ws://host:8080 or wss:// (WebSocket)
  Refused with it, since they would do nothing: --connections, --username, --password; --api-token without
  --registry; --device-prefix with --connection-strings; --ca with a --url without TLS. --qos is 1 (0 is refused);
  --max-inflight applies per device.

Anomalies (in the readings; recorded in --truth)
  --anomalies A           random anomalies per device per simulated hour       default ${DEFAULTS.anomalies}
  --anomaly-types LIST    comma-separated subset of ${ANOMALY_TYPES.join(',')}     default all
  --scenario FILE.json    scheduled anomalies (see docs/SIMULATOR.md)

Delivery faults (counted in the summary)
  --late-fraction F       fraction (0–1) of readings sent late, out of order   default 0
  --max-delay S           largest delay of a late reading, seconds             default ${DEFAULTS.maxDelay}
  --duplicate-fraction F  fraction (0–1) of readings sent twice (same seq)     default 0
  --bad-fraction F        fraction (0–1) of readings followed by a malformed message, cycling through
                          ${BAD_KINDS.join(', ')}   default 0

  -h, --help              this help

Exit codes: 0 all readings acknowledged; 1 cannot connect or readings lost; 2 invalid options.
`;

const STRING_OPTIONS = [
  'devices', 'device-prefix', 'rate', 'duration', 'count', 'seed', 'start', 'speedup', 'url', 'out', 'truth', 'transport',
  'qos', 'batch-size', 'connections', 'max-inflight', 'connect-timeout', 'drain-timeout', 'username', 'password',
  'anomalies', 'anomaly-types', 'scenario', 'late-fraction', 'max-delay', 'duplicate-fraction', 'bad-fraction',
  'connection-strings', 'registry', 'api-token', 'ca', 'replay', 'fields', 'ts-zone', 'ts-format', 'ts-unit', 'temperature-unit',
  'device', 'columns',
] as const;

function toNumber(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  // 1e400 is Infinity to Number(): refused here, as typed (shown as the number, it was JSON's null).
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw.trim()) || !Number.isFinite(Number(raw))) throw invalidOption(name, raw, 'a number');
  return Number(raw);
}

const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/** Options that take no value. */
const SWITCHES = new Set(['--help', '-h', '--quiet', '--json']);

/**
 * Takes each option's value from the next argument before parseArgs sees it: a negative number (`--rate -5`) is the
 * option's value, to be refused by its own check ("invalid value for --rate: -5"), where parseArgs would call it
 * ambiguous; any other argument starting with "-" is an option, and the option before it has no value. An unknown
 * option, a stray argument or a switch given a value is refused as the server and the devices CLI refuse them.
 */
function joinValues(argv: readonly string[]): string[] {
  const args: string[] = [];
  const takesValue = new Set<string>(STRING_OPTIONS.map((name) => `--${name}`));
  const usage = (message: string) => new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, message);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const name = arg.startsWith('--') && arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (SWITCHES.has(name) && name !== arg) throw usage(`option ${name} takes no value, got ${JSON.stringify(arg)}`);
    if (!takesValue.has(name) && !SWITCHES.has(name)) {
      throw usage(arg.startsWith('-') ? `unknown option ${JSON.stringify(name)} (see --help)` : `unexpected argument ${JSON.stringify(arg)}: options only (see --help)`);
    }
    if (name !== arg || SWITCHES.has(arg)) {
      args.push(arg);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `option ${arg} needs a value`);
    if (next.startsWith('-') && !NEGATIVE_NUMBER.test(next)) {
      throw new SimulatorError(
        ErrorCodes.SIM_INVALID_OPTION,
        `option ${arg} needs a value, got the option ${JSON.stringify(next)} (to give a value that starts with "-", write ${arg}=VALUE)`,
      );
    }
    args.push(`${arg}=${next}`);
    i++;
  }
  return args;
}

export function parseCli(argv: string[]): FleetOptions | 'help' {
  let parsed;
  const args = joinValues(argv);
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(STRING_OPTIONS.map((name) => [name, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
        quiet: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, (error as Error).message);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) return 'help';
  const s = (name: string) => v[name] as string | undefined;
  const n = (name: string) => toNumber(name, s(name));
  const types = s('anomaly-types');
  return {
    url: s('url'),
    transport: s('transport'),
    devices: n('devices'),
    devicePrefix: s('device-prefix'),
    rate: n('rate'),
    duration: n('duration'),
    count: n('count'),
    seed: n('seed'),
    start: s('start'),
    speedup: n('speedup'),
    qos: n('qos'),
    batchSize: n('batch-size'),
    connections: n('connections'),
    maxInFlight: n('max-inflight'),
    connectTimeout: n('connect-timeout'),
    drainTimeout: n('drain-timeout'),
    anomalies: n('anomalies'),
    anomalyTypes: types === undefined ? undefined : (types.split(',').map((t) => t.trim()) as AnomalyType[]),
    scenario: fromUserDir(s('scenario')),
    truth: fromUserDir(s('truth')),
    out: fromUserDir(s('out')),
    replay: fromUserDir(s('replay')),
    fields: s('fields'),
    tsZone: s('ts-zone'),
    tsFormat: s('ts-format'),
    tsUnit: s('ts-unit'),
    temperatureUnit: s('temperature-unit'),
    device: s('device'),
    columns: s('columns'),
    lateFraction: n('late-fraction'),
    maxDelay: n('max-delay'),
    duplicateFraction: n('duplicate-fraction'),
    badFraction: n('bad-fraction'),
    username: s('username'),
    password: s('password'),
    connectionStrings: fromUserDir(s('connection-strings')),
    registry: s('registry'),
    apiToken: s('api-token'),
    ca: fromUserDir(s('ca')),
  };
}

export function formatSummary(s: Summary): string {
  const bad = Object.entries(s.injected.bad).filter(([, c]) => c > 0).map(([k, c]) => `${k}=${c}`).join(' ') || 'none';
  const anomalies = Object.entries(s.injected.anomalies).filter(([, c]) => c > 0).map(([k, c]) => `${k}=${c}`).join(' ') || 'none';
  return [
    `simulator ${s.ok ? 'finished' : 'finished WITH LOSSES'}`,
    `  devices        ${s.devices}`,
    `  target         ${s.connections === 0 ? '(file only)' : `${s.url ?? "the connection strings' HostName"} via ${s.transport}, QoS ${s.qos}, ${s.connections} connection(s)`}`,
    `  generated      ${s.generated}`,
    `  sent           ${s.sent}  (${s.messages} messages, ${s.badSent} malformed)`,
    `  acknowledged   ${s.acknowledged}`,
    `  lost           ${s.lost}`,
    `  errors         ${s.errors}`,
    `  reconnects     ${s.reconnects}`,
    `  late           ${s.injected.late}  (delayed on purpose: --late-fraction)`,
    `  duplicates     ${s.injected.duplicate}  (sent twice on purpose: --duplicate-fraction)`,
    `  malformed      ${bad}`,
    `  anomalies      ${anomalies}`,
    `  duration       ${(s.durationMs / 1000).toFixed(2)} s (total ${(s.totalMs / 1000).toFixed(2)} s)`,
    `  achieved rate  ${s.achievedRate.toFixed(1)} readings/s`,
    `  simulated time ${s.firstTs ?? '-'} .. ${s.lastTs ?? '-'}`,
  ].join('\n');
}

function startProgress(fleet: Fleet): () => void {
  if (!process.stderr.isTTY) return () => {};
  let last = fleet.progress();
  const timer = setInterval(() => {
    const p = fleet.progress();
    const rate = ((p.generated - last.generated) * 1000) / Math.max(1, p.elapsedMs - last.elapsedMs);
    last = p;
    process.stderr.write(
      `\r${(p.elapsedMs / 1000).toFixed(0)}s  sent ${p.sent}  acked ${p.acknowledged}  rate ${rate.toFixed(0)}/s  ` +
        `in-flight ${p.inFlight}  errors ${p.errors}  connected ${p.connected}  `,
    );
  }, 1000);
  return () => {
    clearInterval(timer);
    process.stderr.write('\n');
  };
}

export async function main(argv: string[]): Promise<number> {
  let fleet: Fleet;
  let json = false;
  let quiet = false;
  try {
    const parsed = parseCli(argv);
    if (parsed === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    json = argv.includes('--json');
    quiet = argv.includes('--quiet');
    fleet = createFleet(parsed);
  } catch (error) {
    const message = (error as Error).message;
    process.stderr.write(`simulator: ${message}${message.endsWith('(see --help)') ? '' : '\nTry --help.'}\n`);
    return 2;
  }
  const warnings = fleet.options.replay === undefined ? [scenarioWarning(fleet.options.scenario, fleet.options)] : replayWarnings(fleet.options.replay);
  for (const warning of warnings) if (warning !== null) process.stderr.write(`simulator: warning: ${warning}\n`);
  // A second Ctrl-C ends the run at once; the first, delivered twice (by the terminal and by npm), stops it cleanly.
  // The handlers stay until the process ends: npm's forward of a Ctrl-C can come after the summary, while the process
  // closes, and the default action would end it with 130.
  const repeats = new SignalRepeats();
  const onSignal = (signal: string) => {
    const seen = repeats.classify(signal);
    if (seen === 'again') process.exit(130);
    if (seen === 'first') fleet.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopProgress = quiet ? () => {} : startProgress(fleet);
  try {
    const summary = await fleet.run();
    stopProgress();
    process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
    return summary.ok ? 0 : 1;
  } catch (error) {
    stopProgress();
    process.stderr.write(`simulator: ${(error as Error).message}\n`);
    const code = (error as { code?: string }).code;
    return code === ErrorCodes.SIM_INVALID_OPTION || code === ErrorCodes.SIM_INVALID_SCENARIO ? 2 : 1;
  }
}

endQuietlyOnEpipe(); // `npm run simulate -- --help | head -1`
// Exits at once rather than when the event loop empties: that exit closes the signal handlers first, and a Ctrl-C
// forwarded by npm in those milliseconds would end the process by SIGINT after its summary. (stdout and stderr are
// written synchronously to files, pipes and terminals on Linux: nothing printed is cut off.)
process.exit(await main(process.argv.slice(2)));
