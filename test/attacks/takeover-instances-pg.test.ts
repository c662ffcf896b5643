/** A takeover across two instances on one PostgreSQL database (takeover-instances-suite.ts); skipped, saying why, without PGHOST. */
import { takeoverInstancesSuite } from './takeover-instances-suite.ts';

takeoverInstancesSuite('postgres');
