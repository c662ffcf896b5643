/** A takeover across two instances on one SQLite file (takeover-instances-suite.ts). */
import { takeoverInstancesSuite } from './takeover-instances-suite.ts';

takeoverInstancesSuite('sqlite');
