import { Ajv, type Options } from 'ajv';
import type { FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { ParamError } from './request-errors.ts';

/**
 * How request parts are validated. Unknown parameters and fields are refused (not silently removed); ajv stops at
 * the first error and keeps the failing value, so that a 400 names the parameter, its value and what was expected.
 */
export const AJV_OPTIONS = { removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false, verbose: true } as const satisfies Options;

/** `x-expected`: what a parameter takes, in words; the 400's message quotes it. Documentation only for ajv. */
export const expectedKeyword = (ajv: Ajv): Ajv => ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });

let queryAjv: Ajv | undefined;
let bodyAjv: Ajv | undefined;

/**
 * A route's validatorCompiler for JSON bodies: query strings and path parameters are text, coerced to the
 * schema's types as buildApp's ajv does; a JSON body is not coerced, so `args: [1]` or `file: 5` is refused rather
 * than turned into strings. Request schemas compiled here are inline (no $ref to shared schemas).
 */
export const jsonBodyCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (httpPart === 'body') {
    bodyAjv ??= expectedKeyword(new Ajv({ ...AJV_OPTIONS, coerceTypes: false }));
    return bodyAjv.compile(schema as object);
  }
  queryAjv ??= expectedKeyword(new Ajv({ ...AJV_OPTIONS }));
  return queryAjv.compile(schema as object);
};

const INTEGER_TEXT = /^-?\d+$/;

/**
 * A preValidation hook: an integer query or path parameter must be written as one. ajv's coercion would take
 * "1e3", "0x10", "+5", " 5" and "1.0" as integers; a client sending them meant something else.
 */
export async function refuseLooseIntegers(req: FastifyRequest): Promise<void> {
  const schema = req.routeOptions.schema;
  for (const part of ['querystring', 'params'] as const) {
    const properties = (schema?.[part] as { properties?: Record<string, { type?: unknown; 'x-expected'?: string }> } | undefined)?.properties;
    if (properties === undefined) continue;
    const values = (part === 'querystring' ? req.query : req.params) as Record<string, unknown> | undefined;
    for (const [name, property] of Object.entries(properties)) {
      const value = values?.[name];
      if (property.type === 'integer' && typeof value === 'string' && !INTEGER_TEXT.test(value)) {
        throw new ParamError(name, value, `expected ${property['x-expected'] ?? 'an integer'}`, part);
      }
    }
  }
}
