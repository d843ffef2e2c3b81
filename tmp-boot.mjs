import { register } from 'tsx/esm/api';
register();
await import('/tmp/wk/boot.ts');
