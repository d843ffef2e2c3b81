import type { Config } from '../config.ts';
import { createPostgresStore } from './postgres/index.ts';
import { createSqliteStore } from './sqlite/index.ts';
import type { Store, StoreDeps } from './types.ts';

export type * from './types.ts';
export { DB_FILE } from './sqlite/index.ts';

export type StoreConfig = Pick<Config, 'dataDir' | 'retention' | 'store' | 'cluster'>;

/**
 * The store `config.store.url` names: "" = SQLite in the data dir (embedded, the default), postgres://… = PostgreSQL
 * (shared by several instances; config.ts has checked the URL). Both pass test/store-suite.ts.
 */
export async function openStore(config: StoreConfig, deps: StoreDeps = {}): Promise<Store> {
  return config.store.url === '' ? createSqliteStore(config, deps) : createPostgresStore(config, deps);
}

/** The SQLite store whatever store.url says (tests and benchmarks of the embedded store). */
export const createStore = (config: Pick<Config, 'dataDir' | 'retention'> & { cluster?: { instanceId: string } }, deps: StoreDeps = {}): Promise<Store> =>
  createSqliteStore(config, deps);
