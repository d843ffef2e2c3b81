import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import Fastify from 'fastify';
import { buildDashboard } from '../dashboard/build.ts';
import { registerDashboard } from '../server/api/static.ts';
import { tempDir } from './helpers.ts';

/**
 * Every way a built file could make the browser fetch something: src/href/action/poster attributes, CSS url() and
 * @import, fetch(), EventSource, WebSocket, XMLHttpRequest.open, import()/import from, importScripts, new Worker,
 * sendBeacon, location assignments. Only relative or same-origin URLs may appear there.
 */
const FETCHES = [
  /\b(?:src|href|action|poster|data)\s*=\s*["']?\s*((?:https?:)?\/\/[^"'\s>]+)/gi,
  /url\(\s*["']?\s*((?:https?:)?\/\/[^"')\s]+)/gi,
  /@import\s+["']((?:https?:)?\/\/[^"']+)/gi,
  /\b(?:fetch|EventSource|WebSocket|importScripts|Worker|sendBeacon|import)\s*\(\s*["'`]((?:https?:|wss?:)?\/\/[^"'`]+)/gi,
  /\bfrom\s*["']((?:https?:)?\/\/[^"']+)/gi,
  /\.open\(\s*["'][A-Z]+["']\s*,\s*["']((?:https?:)?\/\/[^"']+)/gi,
  /\blocation(?:\.href)?\s*=\s*["']((?:https?:)?\/\/[^"']+)/gi,
];

/** What remains after dropping comments (licence banners), which the browser never fetches. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/<!--[\s\S]*?-->/g, '');
}

test('the built dashboard references no external URL: every file it loads comes from the server itself', async (t) => {
  const dist = `${tempDir(t)}/`;
  await buildDashboard(dist);
  const files = readdirSync(dist).sort();
  assert.deepEqual(files, ['app.js', 'favicon.svg', 'index.html', 'style.css']);
  const found: string[] = [];
  for (const file of files) {
    const text = withoutComments(readFileSync(dist + file, 'utf8'));
    for (const re of FETCHES) for (const m of text.matchAll(re)) found.push(`${file}: ${m[0]}`);
  }
  assert.deepEqual(found, []);
  // chart.js is inside the bundle, not loaded from anywhere.
  assert.match(readFileSync(`${dist}app.js`, 'utf8'), /Chart\.js v4\.\d+\.\d+/);
  assert.doesNotMatch(readFileSync(`${dist}index.html`, 'utf8'), /<script[^>]+src="(?!\/app\.js")/);
});

test('the patterns catch an external URL where a browser would fetch it', () => {
  const samples = ['<script src="https://cdn.example/chart.js"></script>', 'a{background:url(//cdn.example/x.png)}', 'fetch("https://api.example/x")', 'import("https://esm.sh/chart.js")', 'new EventSource("//evil.example/s")'];
  for (const s of samples) assert.ok(FETCHES.some((re) => new RegExp(re.source, re.flags).test(s)), s);
  assert.ok(!FETCHES.some((re) => new RegExp(re.source, re.flags).test('/* see https://www.chartjs.org */'.replace(/\/\*[\s\S]*?\*\//g, ''))));
});

test('the server serves the built dashboard, and says how to build it when the build is missing', async (t) => {
  const dist = `${tempDir(t)}/`;
  await buildDashboard(dist);
  const app = Fastify();
  await app.register(async (scope) => registerDashboard(scope, dist));
  t.after(() => app.close());
  const page = await app.inject('/');
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /^text\/html/);
  assert.match(page.body, /<script src="\/app\.js"><\/script>/);
  for (const [url, type] of [['/app.js', /javascript/], ['/style.css', /^text\/css/], ['/favicon.svg', /^image\/svg\+xml/]] as const) {
    const res = await app.inject(url);
    assert.equal(res.statusCode, 200, url);
    assert.match(res.headers['content-type'] as string, type, url);
  }
  assert.equal((await app.inject('/../package.json')).statusCode, 404);

  const missing = `${tempDir(t)}/nothing-built/`;
  const bare = Fastify();
  await bare.register(async (scope) => registerDashboard(scope, missing));
  t.after(() => bare.close());
  const res = await bare.inject('/');
  assert.equal(res.statusCode, 503);
  assert.equal(res.body, `Thermostream: the dashboard is not built (${missing}index.html is missing): run \`npm run build\`.\nThe HTTP API under /api/v1/ works.\n`);
});
