/**
 * Schemas of the device registry routes (routes/registry.ts), in the shapes of IoT Hub's service API where it has
 * them. Request bodies are validated without coercion (validation.ts' jsonBodyCompiler), so they are inline (no $ref);
 * `x-expected` is the text of the 400 naming a bad field. What a schema cannot say (a key's canonical base64, a
 * message id's length in bytes, a twin patch's depth, `$` names and size) the route and the registry check.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEVICE_ID } from '../../ingest/decode.ts';
import { deviceIdParam } from '../params.ts';
import { ErrorBody } from '../schemas.ts';

const Time = (description: string) => Type.String({ format: 'date-time', description });
const ConnectionState = Type.String({ enum: ['Connected', 'Disconnected'], description: 'Whether it has an MQTT connection now.' });
/** An enum of strings (not a union of literals: ajv's first error would then be a branch's, without `x-expected`). */
const Status = (description: string) =>
  Type.Unsafe<'enabled' | 'disabled'>(Type.String({ enum: ['enabled', 'disabled'], description, 'x-expected': '"enabled" or "disabled"' }));

/** IoT Hub's bounds for a direct method's response timeout (seconds). */
export const METHOD_TIMEOUT_S = { min: 5, max: 300, default: 30 };
/** How long a direct method call waits for the device to connect: IoT Hub's connectTimeoutInSeconds. */
export const METHOD_CONNECT_TIMEOUT_S = { min: 0, max: 300, default: 0 };
/** Cloud-to-device message ids: IoT Hub's 128 (bytes, checked by the route). */
export const MESSAGE_ID_BYTES = 128;

export const RegistryDevice = Type.Object(
  {
    deviceId: Type.String(),
    generationId: Type.String({ description: 'Changes when a device of the same id is deleted and created again.' }),
    etag: Type.String({ description: 'Changes with its status.' }),
    status: Type.String({ enum: ['enabled', 'disabled'], description: 'A disabled device cannot connect.' }),
    statusUpdatedTime: Time('When its status last changed.'),
    createdTime: Time('When it was registered.'),
    connectionState: ConnectionState,
    cloudToDeviceMessageCount: Type.Integer({ description: 'Cloud-to-device messages queued for it.' }),
    authentication: Type.Optional(
      Type.Object(
        { type: Type.Literal('sas'), symmetricKey: Type.Object({ primaryKey: Type.String(), secondaryKey: Type.String() }) },
        { description: 'The device\'s keys; left out when http.apiToken is set and the request does not carry it.' },
      ),
    ),
    connectionString: Type.Optional(
      Type.String({ description: 'HostName=…;DeviceId=…;SharedAccessKey=… (the primary key), for the device SDK; left out like authentication.' }),
    ),
  },
  { $id: 'RegistryDevice', title: 'RegistryDevice' },
);

const Properties = (description: string) =>
  Type.Object({ $version: Type.Integer() }, { additionalProperties: true, description });

export const Twin = Type.Object(
  {
    deviceId: Type.String(),
    status: Type.String({ enum: ['enabled', 'disabled'] }),
    connectionState: ConnectionState,
    version: Type.Integer({ description: 'Grows with every desired or reported change.' }),
    properties: Type.Object({
      desired: Properties('Set over HTTP (PATCH …/twin), pushed to the device.'),
      reported: Properties('Set by the device.'),
    }),
  },
  { $id: 'Twin', title: 'Twin' },
);

export const IdParams = Type.Object({ id: deviceIdParam('The device id (its registry id).') }, { additionalProperties: false });
export const NoQuery = Type.Object({}, { additionalProperties: false });

const Key = (description: string) =>
  Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9+/]{22,88}={0,2}$',
      description: `${description}: 16 to 64 bytes, base64. Generated (32 random bytes) when absent.`,
      'x-expected': '16 to 64 bytes in base64',
    }),
  );

export const CreateBody = Type.Object(
  {
    deviceId: Type.String({ pattern: DEVICE_ID.source, description: 'The new device\'s id.', 'x-expected': 'a device id matching [A-Za-z0-9._:-]{1,128}' }),
    status: Type.Optional(Status('Default enabled.')),
    authentication: Type.Optional(
      Type.Object(
        {
          type: Type.Optional(Type.Literal('sas', { description: 'Only SAS (symmetric keys) is supported.', 'x-expected': '"sas"' })),
          symmetricKey: Type.Optional(
            Type.Object(
              { primaryKey: Key('The primary key'), secondaryKey: Key('The secondary key') },
              { additionalProperties: false, 'x-expected': 'an object {"primaryKey": "…", "secondaryKey": "…"}' },
            ),
          ),
        },
        { additionalProperties: false, 'x-expected': 'an object {"symmetricKey": {"primaryKey": "…", "secondaryKey": "…"}}' },
      ),
    ),
  },
  { additionalProperties: false, 'x-expected': 'a JSON object such as {"deviceId": "thermostat-1"}' },
);
export type CreateBody = Static<typeof CreateBody>;

export const StatusBody = Type.Object(
  { status: Status('A disabled device is disconnected and cannot connect.') },
  { additionalProperties: false, 'x-expected': 'a JSON object {"status": "enabled"} or {"status": "disabled"}' },
);
export type StatusBody = Static<typeof StatusBody>;

export const TwinPatchBody = Type.Object(
  {
    properties: Type.Object(
      {
        desired: Type.Record(Type.String(), Type.Unknown(), {
          description: 'A JSON merge patch of the desired properties: null deletes a property, objects merge. At most 10 levels deep and 32 KB; names must not start with $.',
          'x-expected': 'a JSON object (a merge patch of the desired properties)',
        }),
      },
      { additionalProperties: false, description: 'Reported properties belong to the device.', 'x-expected': 'an object {"desired": {…}}' },
    ),
  },
  { additionalProperties: false, 'x-expected': 'a JSON object {"properties": {"desired": {…}}}' },
);
export type TwinPatchBody = Static<typeof TwinPatchBody>;

export const MessageBody = Type.Object(
  {
    payload: Type.Unknown({ description: 'The message body: a string is sent as it is, anything else as JSON. At most 64 KB.' }),
    properties: Type.Optional(
      Type.Record(Type.String(), Type.String({ 'x-expected': 'a string' }), {
        description: 'Application properties, sent in the topic\'s property bag.',
        'x-expected': 'an object of string values',
      }),
    ),
    messageId: Type.Optional(
      Type.String({ minLength: 1, maxLength: MESSAGE_ID_BYTES, description: 'Default: a generated UUID.', 'x-expected': `a string of 1 to ${MESSAGE_ID_BYTES} bytes` }),
    ),
  },
  { additionalProperties: false, 'x-expected': 'a JSON object {"payload": <JSON or text>, "properties"?: {…}, "messageId"?: "…"}' },
);
export type MessageBody = Static<typeof MessageBody>;

export const MethodBody = Type.Object(
  {
    // `*` joins an IoT Plug and Play component and its command (thermostat1*getMaxMinReport). The SDK takes the name
    // from the topic as is (no percent-decoding): only characters that need no encoding in it.
    methodName: Type.String({ pattern: '^[A-Za-z0-9_.:*-]{1,128}$', description: 'The method the device registered with onDeviceMethod.', 'x-expected': 'a method name matching [A-Za-z0-9_.:*-]{1,128}' }),
    payload: Type.Optional(Type.Unknown({ description: 'Passed to the device\'s handler (default null).' })),
    responseTimeoutInSeconds: Type.Optional(
      Type.Integer({
        minimum: METHOD_TIMEOUT_S.min,
        maximum: METHOD_TIMEOUT_S.max,
        default: METHOD_TIMEOUT_S.default,
        description: `How long to wait for the device's answer (default ${METHOD_TIMEOUT_S.default}).`,
        'x-expected': `an integer from ${METHOD_TIMEOUT_S.min} to ${METHOD_TIMEOUT_S.max}`,
      }),
    ),
    connectTimeoutInSeconds: Type.Optional(
      Type.Integer({
        minimum: METHOD_CONNECT_TIMEOUT_S.min,
        maximum: METHOD_CONNECT_TIMEOUT_S.max,
        default: METHOD_CONNECT_TIMEOUT_S.default,
        description: 'How long to wait for the device to connect and listen for methods (default 0: it must already), as IoT Hub\'s.',
        'x-expected': `an integer from ${METHOD_CONNECT_TIMEOUT_S.min} to ${METHOD_CONNECT_TIMEOUT_S.max}`,
      }),
    ),
  },
  { additionalProperties: false, 'x-expected': 'a JSON object {"methodName": "…", "payload": …, "responseTimeoutInSeconds": n, "connectTimeoutInSeconds": n}' },
);
export type MethodBody = Static<typeof MethodBody>;

export const MessageAccepted = Type.Object({
  messageId: Type.String(),
  enqueuedTime: Time('When it was queued.'),
  delivered: Type.Boolean({ description: 'Published to the connected device now (else queued until it subscribes).' }),
});

export const MethodResult = Type.Object({
  status: Type.Integer({ description: 'The status the device\'s handler answered.' }),
  payload: Type.Unknown({ description: 'The payload the device\'s handler answered.' }),
});

/** Error answers of a registry route. */
export function registryErrors(what: { write?: boolean; found?: boolean; body?: boolean; exists?: boolean; queue?: boolean; method?: boolean }) {
  const ref = (description: string) => Type.Ref(ErrorBody, { description });
  return {
    ...(what.found || what.body
      ? { 400: ref('An invalid path parameter or body field: the answer names it, its value and what was expected.') }
      : {}),
    ...(what.write ? { 401: ref('Without "Authorization: Bearer <http.apiToken>" (when a token is configured).') } : {}),
    ...(what.queue ? { 403: ref('The device already has 50 queued cloud-to-device messages.') } : {}),
    ...(what.found
      ? { 404: ref(what.method ? 'No such device (TS_ERR_DEVICE_NOT_FOUND), or it is not connected or does not listen for methods (TS_ERR_DEVICE_NOT_CONNECTED).' : 'No such device (TS_ERR_DEVICE_NOT_FOUND).') }
      : {}),
    ...(what.exists ? { 409: ref('A device with this id is already registered (TS_ERR_DEVICE_EXISTS).') } : {}),
    ...(what.body
      ? {
          413: ref('The request body is larger than 1 MiB (TS_ERR_BAD_REQUEST).'),
          415: ref('The request body is not sent as Content-Type: application/json (TS_ERR_BAD_REQUEST, parameter "content-type").'),
        }
      : {}),
    ...(what.method
      ? { 503: ref('The server is shutting down.'), 504: ref('The device did not answer within responseTimeoutInSeconds (TS_ERR_METHOD_TIMEOUT).') }
      : {}),
  };
}
