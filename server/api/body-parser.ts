/**
 * How request bodies are read: JSON only, as fastify reads it (its prototype-poisoning checks included), with two
 * differences. An empty body sent with `Content-Type: application/json` is no body at all on a route that takes
 * none: Livy's clients (Airflow's LivyHook, sparkmagic) send that header on every request, DELETE included. And a
 * body fastify cannot read (FST_ERR_CTP_*) is answered as every other 400 of the API, naming the request body or
 * its Content-Type and the value.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { BODY, BodyParseError, preview } from './request-errors.ts';

export function registerJsonParser(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  // JSON only: fastify's text/plain parser would hand a route a string, refused later as "not a JSON object".
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (text.length === 0) {
      if (req.routeOptions.schema?.body === undefined) return done(null, undefined);
      return done(new BodyParseError(BODY, '', 'empty, expected JSON (Content-Type is application/json)', 'body'), undefined);
    }
    json(req, text, (err, value) => {
      if (err === null) return done(null, value);
      if ((err as FastifyError).code !== 'FST_ERR_CTP_INVALID_JSON_BODY') return done(err, undefined);
      // fastify's error says neither where nor why; JSON.parse does (and parses what fastify refused as poisoning).
      let why = 'has a "__proto__" or "constructor.prototype" key (refused: prototype poisoning)';
      try {
        JSON.parse(text);
      } catch (parseError) {
        // V8's reason without its quote of the text (the message quotes the body already) and without Node 22's
        // "(line 1 column 19)" after "at position 18", so that it reads the same on every Node.
        const reason = (parseError as Error).message.replace(/, ".*(?:"|\.\.\.) is not valid JSON$/s, '').replace(/ \(line \d+ column \d+\)$/, '');
        why = `not valid JSON (${reason})`;
      }
      done(new BodyParseError(BODY, preview(text), why, 'body'), undefined);
    });
  });
}
