// Every worker thread of the server (the batch thread, jobs) starts here: the module to run is its first argv
// entry. The server is TypeScript run through tsx, whose loader is registered per thread, and on Node 20 a worker
// ignores `--import` in its execArgv: hence this plain-JS entry point that registers tsx first.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
