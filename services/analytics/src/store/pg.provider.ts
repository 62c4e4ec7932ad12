import { pgPoolProvider } from '@sg/runtime';
import { fileURLToPath } from 'node:url';

export const PG = Symbol('PG');

/** migrations/ sits beside src/ and dist/, so both the built and the test code find it. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export const pgProvider = pgPoolProvider(PG, MIGRATIONS_DIR);
