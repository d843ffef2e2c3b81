import type { FastifyInstance } from 'fastify';
import type { SecurityStats } from '../../broker/index.ts';
import type { Hub } from '../../broker/iothub.ts';
import { HttpError } from '../../errors.ts';
import { checkDeviceId, connectionString, type Device, type Registry } from '../../registry/index.ts';
import { isObject } from '../../registry/twin.ts';
import { iso } from '../params.ts';

export interface RegistryRouteDeps {
  registry: Registry;
  hub: Hub;
  /** HostName in connection strings. */
  hostName: string;
  /** The broker's security counters, for /api/v1/stats. */
  security: () => SecurityStats;
}

/** IoT Hub's bounds for a direct method's response timeout (seconds). */
const METHOD_TIMEOUT_S = { min: 5, max: 300, default: 30 };
const METHOD_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

const bad = (message: string): HttpError => new HttpError(400, 'TS_ERR_BAD_REQUEST', message);

/**
 * `/api/v1/registry/devices[/:id[/twin|/messages|/methods]]`: device identities, twins, cloud-to-device messages and
 * direct methods, in the shapes of IoT Hub's service API where it has them.
 */
export function registerRegistryRoutes(app: FastifyInstance, deps: RegistryRouteDeps): void {
  const { registry, hub, hostName } = deps;
  const base = '/api/v1/registry/devices';

  const body = (d: Device) => ({
    deviceId: d.deviceId,
    generationId: d.generationId,
    etag: Buffer.from(String(d.statusUpdatedAt)).toString('base64'),
    status: d.status,
    statusUpdatedTime: iso(d.statusUpdatedAt),
    createdTime: iso(d.createdAt),
    connectionState: hub.isConnected(d.deviceId) ? 'Connected' : 'Disconnected',
    cloudToDeviceMessageCount: registry.queuedCount(d.deviceId),
    authentication: { type: 'sas', symmetricKey: { primaryKey: d.primaryKey, secondaryKey: d.secondaryKey } },
    connectionString: connectionString(hostName, d),
  });

  const twinBody = (deviceId: string) => {
    const t = registry.twin(deviceId);
    const d = registry.require(deviceId);
    return {
      deviceId,
      status: d.status,
      connectionState: hub.isConnected(deviceId) ? 'Connected' : 'Disconnected',
      version: t.desiredVersion + t.reportedVersion - 1,
      properties: { desired: { ...t.desired, $version: t.desiredVersion }, reported: { ...t.reported, $version: t.reportedVersion } },
    };
  };

  app.get(base, async () => ({ items: registry.list().map(body) }));

  app.post(base, async (req, reply) => {
    const b = req.body;
    if (!isObject(b)) throw bad('body must be a JSON object like {"deviceId": "thermostat-1"}');
    checkDeviceId(b.deviceId);
    const status = b.status ?? 'enabled';
    if (status !== 'enabled' && status !== 'disabled') throw bad(`status ${JSON.stringify(status)} must be "enabled" or "disabled"`);
    const auth = b.authentication;
    if (auth !== undefined && !(isObject(auth) && (auth.symmetricKey === undefined || isObject(auth.symmetricKey)))) {
      throw bad('authentication must be {"symmetricKey": {"primaryKey": "…", "secondaryKey": "…"}}');
    }
    const keys = (auth?.symmetricKey ?? {}) as Record<string, unknown>;
    for (const k of ['primaryKey', 'secondaryKey']) {
      if (keys[k] !== undefined && typeof keys[k] !== 'string') throw bad(`authentication.symmetricKey.${k} must be a base64 string`);
    }
    const device = registry.create(b.deviceId, { status, primaryKey: keys.primaryKey as string | undefined, secondaryKey: keys.secondaryKey as string | undefined });
    return reply.code(201).send(body(device));
  });

  app.get<{ Params: { id: string } }>(`${base}/:id`, async (req) => body(registry.require(req.params.id)));

  app.patch<{ Params: { id: string } }>(`${base}/:id`, async (req) => {
    registry.require(req.params.id);
    const b = req.body;
    if (!isObject(b) || (b.status !== 'enabled' && b.status !== 'disabled')) {
      throw bad('body must be {"status": "enabled"} or {"status": "disabled"}');
    }
    const device = registry.setStatus(req.params.id, b.status);
    if (device.status === 'disabled') hub.kick(device.deviceId);
    return body(device);
  });

  app.delete<{ Params: { id: string } }>(`${base}/:id`, async (req, reply) => {
    registry.delete(req.params.id);
    hub.kick(req.params.id);
    return reply.code(204).send();
  });

  app.get<{ Params: { id: string } }>(`${base}/:id/twin`, async (req) => twinBody(req.params.id));

  app.patch<{ Params: { id: string } }>(`${base}/:id/twin`, async (req) => {
    registry.require(req.params.id);
    const b = req.body;
    const desired = isObject(b) && isObject(b.properties) ? b.properties.desired : undefined;
    if (!isObject(b) || !isObject(b.properties) || !isObject(desired) || Object.keys(b).some((k) => k !== 'properties')) {
      throw bad('body must be {"properties": {"desired": {…}}} (reported properties belong to the device)');
    }
    const version = registry.patchDesired(req.params.id, desired);
    hub.pushDesired(req.params.id, desired, version);
    return twinBody(req.params.id);
  });

  app.post<{ Params: { id: string } }>(`${base}/:id/messages`, async (req, reply) => {
    registry.require(req.params.id);
    const b = req.body;
    if (!isObject(b) || !('payload' in b)) throw bad('body must be {"payload": <JSON or text>, "properties"?: {…}, "messageId"?: "…"}');
    const properties = b.properties ?? {};
    if (!isObject(properties) || Object.values(properties).some((v) => typeof v !== 'string')) {
      throw bad('properties must be an object of string values');
    }
    if (b.messageId !== undefined && (typeof b.messageId !== 'string' || b.messageId === '' || Buffer.byteLength(b.messageId) > 128)) {
      throw bad('messageId must be a string of 1 to 128 bytes');
    }
    const payload = typeof b.payload === 'string' ? Buffer.from(b.payload) : Buffer.from(JSON.stringify(b.payload));
    const message = registry.enqueue(req.params.id, { body: payload, properties: properties as Record<string, string>, messageId: b.messageId as string | undefined });
    const delivered = hub.flush(req.params.id) > 0;
    return reply.code(202).send({ messageId: message.messageId, enqueuedTime: iso(message.enqueuedAt), delivered });
  });

  app.post<{ Params: { id: string } }>(`${base}/:id/methods`, async (req) => {
    registry.require(req.params.id);
    const b = req.body;
    if (!isObject(b) || typeof b.methodName !== 'string' || !METHOD_NAME.test(b.methodName)) {
      throw bad(`methodName must match ${METHOD_NAME.source}; body {"methodName": "…", "payload": …, "responseTimeoutInSeconds": n}`);
    }
    const timeout = b.responseTimeoutInSeconds ?? METHOD_TIMEOUT_S.default;
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < METHOD_TIMEOUT_S.min || timeout > METHOD_TIMEOUT_S.max) {
      throw bad(`responseTimeoutInSeconds ${JSON.stringify(timeout)} must be an integer from ${METHOD_TIMEOUT_S.min} to ${METHOD_TIMEOUT_S.max}`);
    }
    return hub.invokeMethod(req.params.id, b.methodName, b.payload ?? null, timeout * 1000);
  });
}
