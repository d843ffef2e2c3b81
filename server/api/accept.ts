import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import { ParamError } from './request-errors.ts';

/**
 * Content negotiation on the Accept header ([RFC 9110 12.5.1]). Every route whose schema lists its responses answers
 * the media types of its success response (JSON unless the schema names others: CSV, Prometheus text, an event
 * stream); a request whose Accept header takes none of them is a 406 naming them, in the API's JSON error shape.
 */

interface Range {
  type: string;
  q: number;
  /** 2 for a type (text/csv), 1 for type/*, 0 for *\/*: a more specific range overrides a wider one. */
  specificity: number;
  at: number;
}

function ranges(accept: string): Range[] {
  return accept.toLowerCase().split(',').map((range, at) => {
    const [type, ...params] = range.split(';').map((p) => p.trim());
    const q = params.find((p) => p.startsWith('q='));
    return { type, q: q === undefined ? 1 : Number(q.slice(2)) || 0, specificity: type === '*/*' ? 0 : type.endsWith('/*') ? 1 : 2, at };
  });
}

/** The range that decides `type`'s quality: the most specific one that names it, undefined when none does. */
function rangeFor(all: readonly Range[], type: string): Range | undefined {
  let best: Range | undefined;
  for (const r of all) {
    const names = r.type === type || r.type === '*/*' || (r.specificity === 1 && type.startsWith(r.type.slice(0, -1)));
    if (names && (best === undefined || r.specificity > best.specificity)) best = r;
  }
  return best;
}

/**
 * Which of `offered` (preferred first) to answer with, or null if the header accepts none of them. The highest
 * quality wins; at equal quality a type named outright wins over a wildcard, then the one named first, then the
 * server's order. No header (or an empty one) takes the first; a header that accepts nothing, only refuses types
 * (`text/csv;q=0`: "anything but CSV"), takes the first it does not refuse.
 */
export function negotiate(accept: string | undefined, offered: readonly string[]): string | null {
  if (accept === undefined || accept.trim() === '') return offered[0];
  const all = ranges(accept).filter((r) => r.type !== '');
  const refusesOnly = all.every((r) => r.q === 0);
  let best: { type: string; q: number; specificity: number; at: number } | null = null;
  for (const type of offered) {
    const range = rangeFor(all, type);
    const q = range?.q ?? (refusesOnly ? 1 : 0);
    if (q === 0) continue;
    const c = { type, q, specificity: range?.specificity ?? -1, at: range?.at ?? Infinity };
    if (best === null || c.q > best.q || (c.q === best.q && (c.specificity > best.specificity || (c.specificity === best.specificity && c.at < best.at)))) best = c;
  }
  return best?.type ?? null;
}

const UNNEGOTIATED = new Set(['/healthz', '/metrics']);

/**
 * The media types of a route's success response: its `content` keys, or JSON. Undefined (not negotiated) for a route
 * without response schemas, /healthz and /metrics (they answer probes and scrapers whatever those ask), and one whose
 * success has no body (204).
 */
function producedBy(route: RouteOptions): string[] | undefined {
  const responses = (route.schema as { response?: Record<string, { content?: Record<string, unknown> }> } | undefined)?.response;
  if (responses === undefined || UNNEGOTIATED.has(route.url)) return undefined;
  const success = Object.keys(responses).find((code) => code.startsWith('2'));
  if (success === '204') return undefined;
  const content = success === undefined ? undefined : responses[success].content;
  return content === undefined ? ['application/json'] : Object.keys(content);
}

/** Whether the request's Accept header takes one of the types the route answers (routes/windows.ts picks which with negotiate). */
const acceptable = (types: readonly string[]): onRequestHookHandler =>
  async function checkAccept(req: FastifyRequest) {
    const accept = req.headers.accept;
    if (negotiate(accept, types) !== null) return;
    throw new ParamError('accept', accept ?? null, `this route answers ${types.join(' or ')}`, 'headers', 406);
  };

/**
 * Adds the Accept check to every route registered after it that lists its responses, and documents the 406 with the
 * schema of the route's 400 (the same error body). Call before the routes are added.
 */
export function registerContentNegotiation(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const types = producedBy(route);
    if (types === undefined) return;
    const responses = (route.schema as { response: Record<string, object> }).response;
    if (responses[406] === undefined && responses[400] !== undefined) {
      responses[406] = { ...responses[400], description: `The Accept header takes none of: ${types.join(', ')}.` };
    }
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [acceptable(types), ...hooks];
  });
}
