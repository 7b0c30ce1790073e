import m001 from './001_init.sql?raw';

/**
 * The schema migrations, in order: versioned SQL files next to this module, embedded into the bundle at
 * build time. A new migration is a new file `NNN_name.sql` added to this list (a test checks the folder and
 * the list agree); a migration is never edited once released.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [{ version: 1, name: '001_init', sql: m001 }];

/** The newest schema this mlloop knows: a store with a newer one was written by a newer mlloop. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
