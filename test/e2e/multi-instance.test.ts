/** The two-instance suite on one SQLite file (multi-instance-suite.ts). */
import { multiInstanceSuite } from './multi-instance-suite.ts';

multiInstanceSuite('sqlite');
