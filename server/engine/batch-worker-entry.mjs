// The batch thread's entry point. A worker thread does not inherit the main thread's TypeScript loader (tsx's hooks
// are registered per thread), so it registers tsx itself before loading the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./batch-worker.ts');
