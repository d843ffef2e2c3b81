// Every worker thread of the server (the batch thread, jobs) starts here: the module to run is its first argv
// entry. The server is TypeScript run through tsx, whose loader is registered per thread, and on Node 20 a worker
// ignores `--import` in its execArgv: hence this plain-JS entry point that registers tsx first — both of its hooks,
// as `--import tsx` does: a job file outside an ESM package (no package.json of "type": "module" above it, as in
// /srv/jobs) is CommonJS by Node's rules, and only tsx's require hook compiles it.
import { register } from 'tsx/esm/api';
import { register as registerCommonJs } from 'tsx/cjs/api';

register();
registerCommonJs();
await import(process.argv[2]);
