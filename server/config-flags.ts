/** Command-line flags and environment variables that override the config, in that order of precedence. */
export const OVERRIDES: readonly { flag: string; env: string; path: string[] }[] = [
  { flag: '--host', env: 'THERMOSTREAM_HOST', path: ['host'] },
  { flag: '--http-port', env: 'THERMOSTREAM_HTTP_PORT', path: ['http', 'port'] },
  { flag: '--mqtt-port', env: 'THERMOSTREAM_MQTT_PORT', path: ['mqtt', 'port'] },
  { flag: '--mqtts-port', env: 'THERMOSTREAM_MQTTS_PORT', path: ['mqtt', 'tlsPort'] },
  { flag: '--mqtt-max-packet-bytes', env: 'THERMOSTREAM_MQTT_MAX_PACKET_BYTES', path: ['mqtt', 'maxPacketBytes'] },
  { flag: '--auth', env: 'THERMOSTREAM_AUTH', path: ['auth', 'mode'] },
  { flag: '--data-dir', env: 'THERMOSTREAM_DATA_DIR', path: ['dataDir'] },
  { flag: '--batch-interval', env: 'THERMOSTREAM_BATCH_INTERVAL', path: ['batchIntervalMs'] },
  { flag: '--block-interval', env: 'THERMOSTREAM_BLOCK_INTERVAL', path: ['blockIntervalMs'] },
  { flag: '--batch-thread', env: 'THERMOSTREAM_BATCH_THREAD', path: ['batchThread'] },
  { flag: '--heap-growth', env: 'THERMOSTREAM_HEAP_GROWTH', path: ['heapGrowthPercent'] },
  { flag: '--broker', env: 'THERMOSTREAM_BROKER', path: ['broker', 'url'] },
  { flag: '--broker-client-id', env: 'THERMOSTREAM_BROKER_CLIENT_ID', path: ['broker', 'clientId'] },
  { flag: '--broker-share-group', env: 'THERMOSTREAM_BROKER_SHARE_GROUP', path: ['broker', 'shareGroup'] },
  { flag: '--broker-username', env: 'THERMOSTREAM_BROKER_USERNAME', path: ['broker', 'username'] },
  { flag: '--broker-password', env: 'THERMOSTREAM_BROKER_PASSWORD', path: ['broker', 'password'] },
  { flag: '--store', env: 'THERMOSTREAM_STORE', path: ['store', 'url'] },
  { flag: '--instance-id', env: 'THERMOSTREAM_INSTANCE_ID', path: ['cluster', 'instanceId'] },
  { flag: '--broker-ack-after-commit', env: 'THERMOSTREAM_BROKER_ACK_AFTER_COMMIT', path: ['broker', 'ackAfterCommit'] },
  { flag: '--cluster-instances', env: 'THERMOSTREAM_CLUSTER_INSTANCES', path: ['cluster', 'instances'] },
];

/** The flag of the setting at `path` (broker.shareGroup: --broker-share-group), if it has one. */
export function flagOf(path: readonly string[]): string | undefined {
  return OVERRIDES.find((o) => o.path.join('.') === path.join('.'))?.flag;
}
