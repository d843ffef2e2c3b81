/** `thermostream --help`: every flag, its default and its environment variable (README's configuration table). */
export const USAGE = `Usage: thermostream [options]

  --config <file>          JSON config file (see config/default.json, config/schema.json)
                                                                       env THERMOSTREAM_CONFIG
  --host <addr>            interface to bind (default 127.0.0.1)      env THERMOSTREAM_HOST
  --http-port <n>          HTTP port, 0 = any free (default 8080)      env THERMOSTREAM_HTTP_PORT
  --mqtt-port <n>          MQTT port, 0 = any free (default 1883)      env THERMOSTREAM_MQTT_PORT
  --mqtts-port <n>         MQTT over TLS port, 0 = any free, -1 = off (default 8883)  env THERMOSTREAM_MQTTS_PORT
  --mqtt-max-packet-bytes <n>  close a connection that sends a larger MQTT packet (a WebSocket message: over twice
                           it, at least 1 MiB) (default: ingest.maxPayloadBytes + 65536 = 327680; 0 = no limit)
                           env THERMOSTREAM_MQTT_MAX_PACKET_BYTES
  --auth <none|registry>   who may connect to the broker (default none: loopback only)  env THERMOSTREAM_AUTH
  --data-dir <dir>         ingest log and SQLite database (default data); one server per dir  env THERMOSTREAM_DATA_DIR
  --batch-interval <ms>    micro-batch interval (default 1000)         env THERMOSTREAM_BATCH_INTERVAL
  --block-interval <ms>    hand durable readings to the open batch every <ms>, processed ahead of the
                           batch's time (default 50; 0 = all at the batch's time)  env THERMOSTREAM_BLOCK_INTERVAL
  --batch-thread <worker|main>  where batch work runs: worker = a second thread, so ingest and batches
                           use two cores (default); main = one thread       env THERMOSTREAM_BATCH_THREAD
  --heap-growth <percent>  how far each V8 heap may grow past its live data before a full collection:
                           lower = less memory, more collecting (default 20; 0 = V8's own, up to 300)
                                                                       env THERMOSTREAM_HEAP_GROWTH
  --broker <url>           subscribe at an external broker (mqtt://host:port) instead of embedding one
                                                                       env THERMOSTREAM_BROKER
  --broker-client-id <id>  its persistent session's client id (default thermostream)
                                                                       env THERMOSTREAM_BROKER_CLIENT_ID
  --broker-share-group <g> subscribe as $share/<g>/… (several instances) env THERMOSTREAM_BROKER_SHARE_GROUP
  --broker-username <u>    user name at the external broker            env THERMOSTREAM_BROKER_USERNAME
  --broker-password <p>    its password (prefer the environment)       env THERMOSTREAM_BROKER_PASSWORD
  --store <url>            postgres://user:pass@host:port/db: results and checkpoints in PostgreSQL
                           (default "": SQLite in the data dir)        env THERMOSTREAM_STORE
  --instance-id <id>       this instance's id in a shared store (default main)
                                                                       env THERMOSTREAM_INSTANCE_ID
  --broker-ack-after-commit  hold each PUBACK to the --broker until its batch is committed (=false: don't;
                           default, =null: on with a shared store)
                                                                       env THERMOSTREAM_BROKER_ACK_AFTER_COMMIT
  --cluster-instances <a,b,…>  every instance's id: devices are partitioned over them (default none: all here)
                                                                       env THERMOSTREAM_CLUSTER_INSTANCES
  --rebalance              start although cluster.instances differs from the list this data dir recorded
                           (after stopping every instance; see docs/OPERATIONS.md): the devices that moved away
                           lose their detector state here, their open interval anomalies closed at their last reading
  --instances <n>          run n instance processes on this machine (needs --broker and --store)
  --demo                   also run a simulated fleet of 20 thermostats
  --fresh                  discard computed windows, window and detector state (needed after changing the windows)
  --repair                 cut damaged blocks out of the ingest log, keeping every intact record, and report
                           what was dropped (after a TS_ERR_LOG_CORRUPT refusal); with the log gone
                           (TS_ERR_LOG_MISSING), accept the loss and start a new log after the checkpoint
  -h, --help               print this help

Precedence: defaults < --config file < environment < command-line flags.`;
