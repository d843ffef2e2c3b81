import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { ThermostreamError } from '../errors.ts';
import { hostWithoutPort, isLoopback } from '../url.ts';

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

/**
 * Without http.apiToken the server listens on loopback only (checkExposure) and trusts whoever reaches it. A web page
 * of another site can reach it too, by DNS rebinding (its name made to resolve to 127.0.0.1): the browser then sends
 * that name as the Host, and would let the page read device keys and call write routes. So without a token only
 * requests addressed to this machine are answered: a Host of localhost (or *.localhost), an IP address (no DNS to
 * rebind), this machine's name (Debian maps it to 127.0.1.1), or iothub.hostName; a request without Host too.
 */
export function registerHostCheck(app: FastifyInstance, config: Pick<Config, 'http' | 'iothub'>): void {
  if (config.http.apiToken) return;
  const names = new Set(['localhost', hostname(), hostWithoutPort(config.iothub.hostName)].map((n) => n.toLowerCase()).filter((n) => n !== ''));
  app.addHook('onRequest', async (req, reply) => {
    const host = req.headers.host;
    if (host === undefined || isLocalHost(host, names)) return;
    await reply.code(403).send({
      error: 'TS_ERR_HOST_NOT_ALLOWED',
      message:
        `Host ${JSON.stringify(host.slice(0, 128))} is not a name of this machine: without http.apiToken this server answers requests addressed to ` +
        `localhost, an IP address or ${[...names].filter((n) => n !== 'localhost').map((n) => JSON.stringify(n)).join(', ') || 'its host name'} only ` +
        '(a web page of another site could otherwise reach it by DNS rebinding); open it as http://localhost:<port>/, or set http.apiToken to answer any Host (behind a reverse proxy)',
      parameter: 'host',
      value: host.slice(0, 128),
    });
  });
}

/** `host` (a Host header: name or address, and maybe a port) names this machine: see registerHostCheck. */
function isLocalHost(host: string, names: ReadonlySet<string>): boolean {
  const name = hostWithoutPort(host).toLowerCase().replace(/\.$/, '');
  return isIP(name) !== 0 || names.has(name) || name.endsWith('.localhost');
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
