/**
 * Device registry CLI: `npm run devices -- add <id> [--key K]`, `list`, `show <id>`, `disable <id>`, `enable <id>`,
 * `delete <id>`, `token <id>`. It opens `{dataDir}/registry.db` directly, so it works with the server stopped or running (SQLite
 * WAL); a running server disconnects a device disabled here within a second (REGISTRY_SYNC_MS) and refuses it from its
 * next connect, and disconnects one deleted here as soon, its session forgotten.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionValue } from '../cli-args.ts';
import { parseCli } from '../config.ts';
import { systemClock } from '../clock.ts';
import { dataDirError, prepareDataDir } from '../data-dir-lock.ts';
import { ThermostreamError } from '../errors.ts';
import { endQuietlyOnEpipe } from '../output-closed.ts';
import { hostNameProblem } from '../url.ts';
import { connectionString, createRegistry, defaultHostName, isValidKey, registryFile, type Device } from './index.ts';
import { readEndpoint } from './endpoint.ts';
import { mqttUsername, sasToken } from './sas.ts';

export const DEVICES_USAGE = `Usage: npm run devices -- <command> [options]

Commands:
  add <deviceId> [--key K] [--secondary-key K]   register a device (keys: 16-64 bytes in base64; generated if omitted)
                 [--disabled]                    and print its connection string
  list                                           every device: id, status, connection string
  show <deviceId>                                one device as JSON (keys and connection string included)
  disable <deviceId>                             refuse its connections from now on
                                                 (a running server disconnects it within a second)
  enable <deviceId>                              accept them again
  delete <deviceId>                              remove it, its twin, its queued messages and its session
                                                 (a running server disconnects it within a second)
  token <deviceId> [--duration S]                print a SAS token signed with its primary key, valid S seconds
                                                 (default 3600): the MQTT password of a plain client such as
                                                 mosquitto_pub; its username and client id go to stderr
  (every command but add needs a data dir that has a registry: the server's, or one add made)

Options:
  --data-dir <dir>     where registry.db lives (default data)   env THERMOSTREAM_DATA_DIR
  --config <file>      read dataDir, iothub.hostName and mqtt.tlsPort from the server's config file
  --mqtts-port <port>  the server's MQTT TLS port: HostName is localhost:<port>; -1 (no TLS listener) is warned
                       about: the device SDKs dial TLS. Default: the port the server last started on the data
                       dir listens on (it records it, and its iothub.hostName, in endpoint.json at each start;
                       the real port when it was given 0), else mqtt.tlsPort (--config,
                       THERMOSTREAM_MQTTS_PORT; not 0), else 8883
  --host-name <name>   HostName in connection strings and tokens, a host name with an optional :port
                       (default iothub.hostName, the server's recorded one first, else localhost[:tlsPort])
  --duration <s>       token: seconds it is valid, 1 to 31536000 (a year; default 3600); the server closes a
                       connection when its token expires
  -h, --help           print this help`;

/** The longest a token printed by `token` may be valid: a year. */
const MAX_TOKEN_SECONDS = 365 * 24 * 3600;

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs one command; returns what to print and the exit code (0 done, 1 refused, 2 usage). */
export function runDevicesCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliResult {
  const positional: string[] = [];
  const serverArgs: string[] = [];
  const opts: { key?: string; secondaryKey?: string; hostName?: string; duration?: string; disabled: boolean; help: boolean } = { disabled: false, help: false };
  try {
    for (let i = 0; i < argv.length; i++) {
      // --option VALUE, or --option=VALUE (for a value that starts with "--").
      const eq = argv[i].startsWith('--') ? argv[i].indexOf('=') : -1;
      const arg = eq > 0 ? argv[i].slice(0, eq) : argv[i];
      const inline = eq > 0 ? argv[i].slice(eq + 1) : undefined;
      const value = (): string => inline ?? optionValue(arg, argv[++i]);
      if (inline !== undefined && (arg === '--help' || arg === '--disabled')) {
        throw new ThermostreamError('TS_ERR_CLI_ARG', `option ${arg} takes no value, got ${JSON.stringify(argv[i])}`);
      }
      if (arg === '--help' || arg === '-h') opts.help = true;
      else if (arg === '--key') opts.key = value();
      else if (arg === '--secondary-key') opts.secondaryKey = value();
      else if (arg === '--host-name') opts.hostName = value();
      else if (arg === '--duration') opts.duration = value();
      else if (arg === '--disabled') opts.disabled = true;
      // As --option=VALUE: the server's parser takes a value that starts with "--" only in that form.
      else if (arg === '--data-dir' || arg === '--config' || arg === '--mqtts-port') serverArgs.push(`${arg}=${value()}`);
      else if (arg.startsWith('--')) throw new ThermostreamError('TS_ERR_CLI_ARG', `unknown option ${JSON.stringify(arg)} (see --help)`);
      else positional.push(arg);
    }
  } catch (err) {
    return { code: 2, out: '', err: `devices: ${(err as Error).message}` };
  }
  if (opts.help) return { code: 0, out: DEVICES_USAGE, err: '' };
  const [command, deviceId, ...extra] = positional;
  const needsId = ['add', 'show', 'disable', 'enable', 'delete', 'token'];
  if (command === undefined || (command !== 'list' && !needsId.includes(command))) {
    return { code: 2, out: '', err: `devices: ${command === undefined ? 'no command' : `unknown command ${JSON.stringify(command)}`}\n\n${DEVICES_USAGE}` };
  }
  if ((needsId.includes(command) && deviceId === undefined) || extra.length > 0 || (command === 'list' && deviceId !== undefined)) {
    return { code: 2, out: '', err: `devices: usage: ${command}${needsId.includes(command) ? ' <deviceId>' : ''} (see --help)` };
  }
  // A command's own options (the usage lists them beside it) would do nothing elsewhere: refused, not ignored.
  const given: [string, boolean, string][] = [
    ['--key', opts.key !== undefined, 'add'],
    ['--secondary-key', opts.secondaryKey !== undefined, 'add'],
    ['--disabled', opts.disabled, 'add'],
    ['--duration', opts.duration !== undefined, 'token'],
  ];
  const misplaced = given.find(([, present, owner]) => present && owner !== command);
  if (misplaced !== undefined) return { code: 2, out: '', err: `devices: ${misplaced[0]} is an option of ${misplaced[2]}, not of ${command} (see --help)` };
  const duration = opts.duration === undefined ? 3600 : Number(opts.duration);
  if (!/^\d+$/.test(opts.duration ?? '3600') || duration < 1 || duration > MAX_TOKEN_SECONDS) {
    return { code: 2, out: '', err: `devices: invalid --duration ${JSON.stringify(opts.duration)}: expected whole seconds from 1 to ${MAX_TOKEN_SECONDS}` };
  }

  let registry;
  let hostName: string;
  let warning = '';
  const notes: string[] = [];
  try {
    // Only the settings this CLI uses: a bad value of another (THERMOSTREAM_HTTP_PORT) is the server's to refuse.
    const { config } = parseCli(serverArgs, env, ['dataDir', 'iothub.hostName', 'mqtt.tlsPort']);
    // What the server last started on this data dir gives devices, unless --host-name (or, for the port alone,
    // --mqtts-port) says otherwise: it may have been started with flags this CLI is not given (--mqtts-port 0: a port
    // only it knows).
    let recorded = null;
    if (opts.hostName === undefined) {
      try {
        recorded = readEndpoint(config.dataDir);
      } catch (err) {
        notes.push(`devices: warning: ${(err as Error).message}: ignored (the server writes it again at its next start)`);
      }
    }
    const portGiven = serverArgs.some((a) => a.startsWith('--mqtts-port='));
    const iothubHostName = recorded?.iothubHostName ?? config.iothub.hostName;
    const tlsPort = portGiven ? config.mqtt.tlsPort : (recorded?.mqttsPort ?? config.mqtt.tlsPort);
    hostName = opts.hostName ?? defaultHostName(iothubHostName, tlsPort);
    if (['add', 'list', 'show', 'token'].includes(command)) {
      notes.push(checkHostName(hostName, opts.hostName, iothubHostName, tlsPort, serverArgs, env, recorded !== null));
    }
    warning = notes.filter((n) => n !== '').join('\n');
    // Only add makes a registry; the other commands on a data dir without one (a typo in --data-dir) would create it.
    if (command !== 'add' && !existsSync(registryFile(config.dataDir))) {
      const err = new ThermostreamError(
        'TS_ERR_NO_REGISTRY',
        `no device registry in data dir ${JSON.stringify(config.dataDir)} (no ${registryFile(config.dataDir)}; the server creates it when it starts, and so does add): check --data-dir`,
      );
      return { code: 1, out: '', err: `devices: ${err.message} [${err.code}]` };
    }
    try {
      if (command === 'add') prepareDataDir(config.dataDir); // made and writable, or refused as the server refuses it
      registry = createRegistry(config.dataDir, { clock: systemClock });
    } catch (err) {
      // Not a usage error: the data dir is a file or cannot be written, or the registry is damaged.
      const refused = err instanceof ThermostreamError ? err : dataDirError(resolve(config.dataDir), (err as Error).message);
      return { code: 1, out: '', err: `devices: ${refused.message} [${refused.code}]` };
    }
  } catch (err) {
    return { code: 2, out: '', err: `devices: ${(err as Error).message}${err instanceof ThermostreamError ? ` [${err.code}]` : ''}` };
  }
  const show = (d: Device) => ({
    deviceId: d.deviceId,
    status: d.status,
    authentication: { type: 'sas', symmetricKey: { primaryKey: d.primaryKey, secondaryKey: d.secondaryKey } },
    connectionString: connectionString(hostName, d),
    createdTime: new Date(d.createdAt).toISOString(),
    statusUpdatedTime: new Date(d.statusUpdatedAt).toISOString(),
  });
  try {
    switch (command) {
      case 'add': {
        // Named by the option given (the registry names its API fields, primaryKey and secondaryKey).
        const [flag, bad] = ([['--key', opts.key], ['--secondary-key', opts.secondaryKey]] as const).find(([, k]) => k !== undefined && !isValidKey(k)) ?? [];
        if (flag !== undefined) {
          const shown = JSON.stringify(bad!.slice(0, 20)) + (bad!.length > 20 ? '…' : '');
          return { code: 1, out: '', err: `devices: ${flag} must be 16 to 64 bytes in base64 (\`openssl rand -base64 32\` makes one), got ${shown} [TS_ERR_BAD_REQUEST]` };
        }
        const d = registry.create(deviceId, { primaryKey: opts.key, secondaryKey: opts.secondaryKey, status: opts.disabled ? 'disabled' : 'enabled' });
        return { code: 0, out: `added ${d.deviceId} (${d.status})\n${connectionString(hostName, d)}`, err: warning };
      }
      case 'list': {
        const rows = registry.list().map((d) => `${d.deviceId}\t${d.status}\t${connectionString(hostName, d)}`);
        return { code: 0, out: rows.length === 0 ? '(no devices)' : ['deviceId\tstatus\tconnectionString', ...rows].join('\n'), err: warning };
      }
      case 'show':
        return { code: 0, out: JSON.stringify(show(registry.require(deviceId)), null, 2), err: warning };
      case 'token': {
        const d = registry.require(deviceId);
        const expiry = Math.floor(Date.now() / 1000) + duration;
        const notes = [
          `devices: MQTT username ${JSON.stringify(mqttUsername(hostName, d.deviceId))}, client id ${JSON.stringify(d.deviceId)}; ` +
            `the token expires at ${new Date(expiry * 1000).toISOString()}`,
          d.status === 'disabled' ? `devices: warning: ${d.deviceId} is disabled: the server refuses it until it is enabled` : '',
          warning,
        ];
        return { code: 0, out: sasToken(`${hostName}/devices/${d.deviceId}`, d.primaryKey, expiry), err: notes.filter((n) => n !== '').join('\n') };
      }
      case 'disable':
      case 'enable': {
        const d = registry.setStatus(deviceId, command === 'disable' ? 'disabled' : 'enabled');
        return { code: 0, out: `${d.deviceId} ${d.status}`, err: '' };
      }
      default:
        registry.delete(deviceId);
        return { code: 0, out: `deleted ${deviceId}`, err: '' };
    }
  } catch (err) {
    if (err instanceof ThermostreamError) return { code: 1, out: '', err: `devices: ${err.message} [${err.code}]` };
    throw err;
  } finally {
    registry.close();
  }
}

/**
 * The HostName of the connection strings to print must be one a device can dial: refused naming where it came from.
 * Returns a warning to print, or '': a server without a TLS listener takes no device SDK connection at localhost.
 */
function checkHostName(
  hostName: string,
  flag: string | undefined,
  configured: string,
  tlsPort: number,
  serverArgs: readonly string[],
  env: NodeJS.ProcessEnv,
  recorded: boolean,
): string {
  // iothub.hostName from the configuration was checked with it (resolveConfig).
  const problem = flag === undefined ? undefined : hostNameProblem(hostName);
  if (problem !== undefined) {
    throw new ThermostreamError('TS_ERR_CLI_ARG', `invalid --host-name ${JSON.stringify(hostName)} for connection strings: ${problem}`);
  }
  if (flag === undefined && configured === '' && tlsPort === 0) {
    const port = serverArgs.some((a) => a.startsWith('--mqtts-port='))
      ? '--mqtts-port 0'
      : env.THERMOSTREAM_MQTTS_PORT !== undefined && env.THERMOSTREAM_MQTTS_PORT !== ''
        ? 'THERMOSTREAM_MQTTS_PORT=0'
        : 'mqtt.tlsPort 0 (from --config)';
    throw new ThermostreamError(
      'TS_ERR_CLI_ARG',
      `${port} cannot go into a connection string: a server given 0 listens on any free port, and a device must dial the real one; ` +
        'give the port the server printed ("MQTT TLS mqtts://…:PORT") with --mqtts-port, or --host-name host:port',
    );
  }
  if (flag === undefined && configured === '' && tlsPort < 0) {
    return (
      `devices: warning: ${recorded ? 'the server on this data dir has no TLS listener (mqtt.tlsPort -1)' : 'mqtt.tlsPort is -1 (no TLS listener)'}, ` +
      `so nothing listens where HostName=${hostName} points (port 8883): ` +
      'the Azure IoT device SDKs connect over TLS only; start the server with a TLS port, or give --host-name host:port ' +
      'of a TLS endpoint in front of it (a plain MQTT client can still sign in on the plain port with a token: devices token)'
    );
  }
  return '';
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  endQuietlyOnEpipe(); // `npm run devices -- list | head -1`
  const result = runDevicesCli(process.argv.slice(2), process.env);
  if (result.out !== '') console.log(result.out);
  if (result.err !== '') console.error(result.err);
  process.exitCode = result.code;
}
