import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { SecurityStats } from '../../broker/index.ts';
import type { Hub } from '../../broker/iothub.ts';
import { HttpError } from '../../errors.ts';
import { connectionString, isValidKey, type Device, type Registry } from '../../registry/index.ts';
import { patchProblem } from '../../registry/twin.ts';
import { cursorParam, decodeCursor, encodeCursor, iso, isString, limitParam } from '../params.ts';
import { bodyFieldError, NotFoundError, ParamError } from '../request-errors.ts';
import { badRequest, Next } from '../schemas.ts';
import { jsonBodyCompiler } from '../validation.ts';
import {
  CreateBody,
  IdParams,
  MESSAGE_ID_BYTES,
  MessageAccepted,
  MessageBody,
  MethodBody,
  MethodResult,
  NoQuery,
  RegistryDevice,
  registryErrors,
  StatusBody,
  Twin,
  TwinPatchBody,
} from './registry-schemas.ts';

export interface RegistryRouteDeps {
  registry: Registry;
  hub: Hub;
  /** HostName in connection strings. */
  hostName: string;
  /** The broker's security counters, for /api/v1/stats. */
  security: () => SecurityStats;
}

const ListQuery = Type.Object({ limit: limitParam(1000), cursor: Type.Optional(cursorParam()) }, { additionalProperties: false });

type Id = { Params: Static<typeof IdParams>; Querystring: Static<typeof NoQuery> };

/** A registry refusal about one body field (HttpError 400 of the registry) as the API's 400 naming it. */
function asBodyError<T>(field: string, value: unknown, run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof HttpError && err.statusCode === 400) throw bodyFieldError(field, value, err.message);
    throw err;
  }
}

/**
 * `/api/v1/registry/devices[/:id[/twin|/messages|/methods]]`: device identities, twins, cloud-to-device messages and
 * direct methods, in the shapes of IoT Hub's service API where it has them. Bodies are checked by the schemas of
 * registry-schemas.ts (not coerced); write routes take the API token.
 */
export function registerRegistryRoutes(app: FastifyInstance, deps: RegistryRouteDeps): void {
  const { registry, hub, hostName } = deps;
  const base = '/api/v1/registry/devices';
  const tags = ['registry'];
  const security = [{ apiToken: [] }];
  const common = { validatorCompiler: jsonBodyCompiler };
  const write = { ...common, preHandler: app.requireToken };
  app.addSchema(RegistryDevice);
  app.addSchema(Twin);

  // Keys and connection strings are secrets: with http.apiToken set, only requests that carry it see them.
  const body = (d: Device, withKeys = true) => ({
    deviceId: d.deviceId,
    generationId: d.generationId,
    etag: Buffer.from(String(d.statusUpdatedAt)).toString('base64'),
    status: d.status,
    statusUpdatedTime: iso(d.statusUpdatedAt),
    createdTime: iso(d.createdAt),
    connectionState: hub.isConnected(d.deviceId) ? 'Connected' : 'Disconnected',
    cloudToDeviceMessageCount: registry.queuedCount(d.deviceId),
    ...(withKeys && {
      authentication: { type: 'sas', symmetricKey: { primaryKey: d.primaryKey, secondaryKey: d.secondaryKey } },
      connectionString: connectionString(hostName, d),
    }),
  });

  /** The device, or a 404 naming the path parameter. */
  const device = (id: string): Device => {
    const d = registry.get(id);
    if (d === undefined) throw new NotFoundError('id', id, 'device', { code: 'TS_ERR_DEVICE_NOT_FOUND', message: `device "${id}" is not registered` });
    return d;
  };

  const twinBody = (deviceId: string) => {
    const t = registry.twin(deviceId);
    const d = device(deviceId);
    return {
      deviceId,
      status: d.status,
      connectionState: hub.isConnected(deviceId) ? 'Connected' : 'Disconnected',
      version: t.desiredVersion + t.reportedVersion - 1,
      properties: { desired: { ...t.desired, $version: t.desiredVersion }, reported: { ...t.reported, $version: t.reportedVersion } },
    };
  };

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    base,
    {
      ...common,
      schema: {
        summary: 'Registered devices',
        description: 'The device identities of the registry, by deviceId; `next` pages on.',
        tags,
        querystring: ListQuery,
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(RegistryDevice)), next: Next }), ...badRequest },
      },
    },
    async (req) => {
      const limit = req.query.limit!;
      const rows = registry.list({ after: decodeCursor(req.query.cursor, isString), limit: limit + 1 });
      const page = rows.slice(0, limit);
      return { items: page.map((d) => body(d, app.hasToken(req))), next: rows.length > limit ? encodeCursor(page.at(-1)!.deviceId) : null };
    },
  );

  app.post<{ Body: CreateBody; Querystring: Static<typeof NoQuery> }>(
    base,
    {
      ...write,
      schema: {
        summary: 'Register a device',
        description: 'Creates a device identity with the given symmetric keys, or generated ones (32 random bytes each).',
        tags,
        security,
        querystring: NoQuery,
        body: CreateBody,
        response: { 201: Type.Ref(RegistryDevice, { description: 'The new device, with its connection string.' }), ...registryErrors({ write: true, body: true, exists: true }) },
      },
    },
    async (req, reply) => {
      const { deviceId, status, authentication } = req.body;
      const keys = authentication?.symmetricKey ?? {};
      for (const k of ['primaryKey', 'secondaryKey'] as const) {
        const key = keys[k];
        if (key !== undefined && !isValidKey(key)) throw new ParamError(`authentication.symmetricKey.${k}`, key, 'expected 16 to 64 bytes in base64', 'body');
      }
      const created = registry.create(deviceId, { status, primaryKey: keys.primaryKey, secondaryKey: keys.secondaryKey });
      return reply.code(201).header('location', `${base}/${encodeURIComponent(deviceId)}`).send(body(created));
    },
  );

  app.get<Id>(
    `${base}/:id`,
    {
      ...common,
      schema: {
        summary: 'One registered device',
        tags,
        params: IdParams,
        querystring: NoQuery,
        response: { 200: Type.Ref(RegistryDevice), ...registryErrors({ found: true }) },
      },
    },
    async (req) => body(device(req.params.id), app.hasToken(req)),
  );

  app.patch<Id & { Body: StatusBody }>(
    `${base}/:id`,
    {
      ...write,
      schema: {
        summary: 'Enable or disable a device',
        description: 'A disabled device is disconnected at once and refused from its next connect.',
        tags,
        security,
        params: IdParams,
        querystring: NoQuery,
        body: StatusBody,
        response: { 200: Type.Ref(RegistryDevice), ...registryErrors({ write: true, found: true, body: true }) },
      },
    },
    async (req) => {
      device(req.params.id);
      const updated = registry.setStatus(req.params.id, req.body.status);
      if (updated.status === 'disabled') hub.kick(updated.deviceId);
      return body(updated);
    },
  );

  app.delete<Id>(
    `${base}/:id`,
    {
      ...write,
      schema: {
        summary: 'Delete a device',
        description: 'Removes its identity, twin and queued messages, and disconnects it.',
        tags,
        security,
        params: IdParams,
        querystring: NoQuery,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...registryErrors({ write: true, found: true }) },
      },
    },
    async (req, reply) => {
      device(req.params.id);
      registry.delete(req.params.id);
      hub.kick(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get<Id>(
    `${base}/:id/twin`,
    {
      ...common,
      schema: {
        summary: 'A device\'s twin',
        description: 'Its desired and reported properties, each with its $version.',
        tags,
        params: IdParams,
        querystring: NoQuery,
        response: { 200: Type.Ref(Twin), ...registryErrors({ found: true }) },
      },
    },
    async (req) => {
      device(req.params.id);
      return twinBody(req.params.id);
    },
  );

  app.patch<Id & { Body: TwinPatchBody }>(
    `${base}/:id/twin`,
    {
      ...write,
      schema: {
        summary: 'Change a device\'s desired properties',
        description: 'A JSON merge patch of the desired properties (null deletes); pushed to the device if it is connected.',
        tags,
        security,
        params: IdParams,
        querystring: NoQuery,
        body: TwinPatchBody,
        response: { 200: Type.Ref(Twin, { description: 'The twin after the patch.' }), ...registryErrors({ write: true, found: true, body: true }) },
      },
    },
    async (req) => {
      const id = req.params.id;
      device(id);
      const desired = req.body.properties.desired;
      const problem = patchProblem(desired);
      if (problem !== null) throw bodyFieldError('properties.desired', desired, problem);
      const version = asBodyError('properties.desired', desired, () => registry.patchDesired(id, desired));
      hub.pushDesired(id, desired, version);
      return twinBody(id);
    },
  );

  app.post<Id & { Body: MessageBody }>(
    `${base}/:id/messages`,
    {
      ...write,
      schema: {
        summary: 'Send a cloud-to-device message',
        description: 'Delivered on devices/{id}/messages/devicebound/… now if the device is subscribed, else queued (up to 50, 64 KB each) until it is.',
        tags,
        security,
        params: IdParams,
        querystring: NoQuery,
        body: MessageBody,
        response: { 202: MessageAccepted, ...registryErrors({ write: true, found: true, body: true, queue: true }) },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      device(id);
      const { payload, properties = {}, messageId } = req.body;
      if (messageId !== undefined && Buffer.byteLength(messageId) > MESSAGE_ID_BYTES) {
        throw new ParamError('messageId', messageId, `expected a string of 1 to ${MESSAGE_ID_BYTES} bytes`, 'body');
      }
      const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(JSON.stringify(payload));
      const message = asBodyError('payload', payload, () => registry.enqueue(id, { body: bytes, properties, messageId }));
      const delivered = hub.flush(id) > 0;
      return reply.code(202).send({ messageId: message.messageId, enqueuedTime: iso(message.enqueuedAt), delivered });
    },
  );

  app.post<Id & { Body: MethodBody }>(
    `${base}/:id/methods`,
    {
      ...write,
      schema: {
        summary: 'Invoke a direct method',
        description: 'Calls the device\'s onDeviceMethod handler and answers what it answered, as IoT Hub\'s service API does.',
        tags,
        security,
        params: IdParams,
        querystring: NoQuery,
        body: MethodBody,
        response: { 200: MethodResult, ...registryErrors({ write: true, found: true, body: true, method: true }) },
      },
    },
    async (req) => {
      const id = req.params.id;
      device(id);
      const { methodName, payload = null, responseTimeoutInSeconds, connectTimeoutInSeconds } = req.body;
      try {
        return await hub.invokeMethod(id, methodName, payload, responseTimeoutInSeconds! * 1000, connectTimeoutInSeconds! * 1000);
      } catch (err) {
        if (err instanceof HttpError && err.statusCode === 404) throw new NotFoundError('id', id, 'device', { code: err.code, message: err.message });
        throw err;
      }
    },
  );
}
