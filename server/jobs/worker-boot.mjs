// A job's worker thread starts here. Jobs are TypeScript, so the thread registers tsx's loader first and then
// loads worker.ts. (On Node 20 a worker ignores `--import` in its execArgv, hence this plain-JS entry point.)
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
