export { SCHEMA_VERSION } from './schema.js'
export type { SqliteEventStoreOptions } from './sqlite-store.js'
export { createSqliteEventStore, SQLITE_STORE_DEFAULT_RETENTION } from './sqlite-store.js'
