import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { ThermostreamError } from '../errors.ts';
import { isLoopback } from '../url.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * preHandler for write routes (registry, jobs): answers 401 unless the request carries
     * `Authorization: Bearer <http.apiToken>`. Without a configured token (loopback only) it lets everything through.
     */
    requireToken: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** Whether a request may see secrets (device keys): no token is configured, or it carries the right one. */
    hasToken: (req: FastifyRequest) => boolean;
  }
}


/** The rule the broker follows too: beyond loopback, nothing that writes is open to anyone. */
export function checkExposure(config: Pick<Config, 'host' | 'http'>): void {
  if (isLoopback(config.host) || config.http.apiToken) return;
  throw new ThermostreamError(
    'TS_ERR_API_TOKEN_REQUIRED',
    `HTTP would listen on ${config.host}, beyond loopback, without an API token: set http.apiToken in the config file ` +
      '(at least 16 characters; write routes then require "Authorization: Bearer <token>"), or listen on 127.0.0.1',
  );
}

export function registerAuth(app: FastifyInstance, token: string | null): void {
  const expected = token === null ? null : Buffer.from(token);
  const given = (req: FastifyRequest): Buffer | null => {
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    return m === null ? null : Buffer.from(m[1].trim());
  };
  const matches = (g: Buffer | null): boolean => expected === null || (g !== null && g.length === expected.length && timingSafeEqual(g, expected));
  app.decorate('hasToken', (req: FastifyRequest) => matches(given(req)));
  app.decorate('requireToken', async (req: FastifyRequest, reply: FastifyReply) => {
    const g = given(req);
    if (matches(g)) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="thermostream"')
      .send({
        error: 'TS_ERR_UNAUTHORIZED',
        message: g === null ? 'this route needs "Authorization: Bearer <http.apiToken>"' : 'the API token does not match http.apiToken',
      });
  });
}
