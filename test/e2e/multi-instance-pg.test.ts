/** The two-instance suite on one PostgreSQL database (multi-instance-suite.ts); skipped, saying why, without PGHOST. */
import { multiInstanceSuite } from './multi-instance-suite.ts';

multiInstanceSuite('postgres');
