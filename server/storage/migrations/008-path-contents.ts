/**
 * Migration 8 (issue 8, load): how many hosts of a group report each path,
 * and how many have each content, kept by triggers on every write of
 * `measured` and of a host's group or revocation. Judging one file change
 * against its group was a walk of every host that has the path (~1.3 µs a
 * host: a package upgrade on a 10,000-host group cost ~13 ms per event,
 * about two minutes of server CPU per changed file); with these counts it is
 * two index lookups. Triggers, not application code, so that no writer
 * (the server, the CLI, a later migration) can forget them.
 */
import { contentKey } from '../../fleet/sample-match.ts';

/** Rows of `measured` that count: a file reported now. */
const counted = (m: string) => `${m}.kind = 'file' AND ${m}.current IS NOT NULL`;

/** The (key, content) pairs one host's file row counts under: '' (reports the path) and its content, if comparable. */
const pairs = (row: string) => `SELECT ${row}.key AS key, '' AS content UNION ALL SELECT ${row}.key, ${contentKey(`${row}.current`)} WHERE ${contentKey(`${row}.current`)} IS NOT NULL`;

/** Adds (+1) or takes away (-1) one row's counts, under its host's group, unless the host is revoked. */
const add = (row: string) => `
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT h.grp, p.key, p.content, 1 FROM hosts h, (${pairs(row)}) p WHERE h.host = ${row}.host AND h.state != 'revoked'
      ON CONFLICT DO UPDATE SET hosts = hosts + 1;`;
const take = (row: string) => `
    UPDATE path_contents SET hosts = hosts - 1
      WHERE grp = (SELECT grp FROM hosts WHERE host = ${row}.host AND state != 'revoked') AND key = ${row}.key
        AND content IN ('', COALESCE(${contentKey(`${row}.current`)}, ''));
    DELETE FROM path_contents WHERE key = ${row}.key AND content IN ('', COALESCE(${contentKey(`${row}.current`)}, '')) AND hosts <= 0;`;

/** One host's rows, each (key, content) pair once, for moving all its counts at once. */
const hostPairs = (host: string) => `
  SELECT m.key AS key, '' AS content FROM measured m WHERE m.host = ${host} AND ${counted('m')}
  UNION ALL
  SELECT m.key, ${contentKey('m.current')} FROM measured m WHERE m.host = ${host} AND ${counted('m')} AND ${contentKey('m.current')} IS NOT NULL`;

export default `
  CREATE TABLE path_contents (
    grp TEXT NOT NULL,
    key TEXT NOT NULL,
    -- '': hosts reporting the path; otherwise the content key (sample-match.ts contentKey) of what they have
    content TEXT NOT NULL,
    hosts INTEGER NOT NULL,
    PRIMARY KEY (grp, key, content)
  ) STRICT, WITHOUT ROWID;

  INSERT INTO path_contents (grp, key, content, hosts)
    SELECT h.grp, p.key, p.content, COUNT(*) FROM hosts h JOIN (
      SELECT m.host AS host, m.key AS key, '' AS content FROM measured m WHERE ${counted('m')}
      UNION ALL
      SELECT m.host, m.key, ${contentKey('m.current')} FROM measured m WHERE ${counted('m')} AND ${contentKey('m.current')} IS NOT NULL
    ) p ON p.host = h.host
    WHERE h.state != 'revoked'
    GROUP BY h.grp, p.key, p.content;

  CREATE TRIGGER path_contents_insert AFTER INSERT ON measured WHEN NEW.kind = 'file' AND NEW.current IS NOT NULL
  BEGIN ${add('NEW')}
  END;

  CREATE TRIGGER path_contents_delete AFTER DELETE ON measured WHEN OLD.kind = 'file' AND OLD.current IS NOT NULL
  BEGIN ${take('OLD')}
  END;

  -- An update of current: the old content's counts out, the new one's in (two triggers, each with a simple WHEN).
  CREATE TRIGGER path_contents_update_old AFTER UPDATE OF current ON measured
    WHEN OLD.kind = 'file' AND OLD.current IS NOT NULL AND OLD.current IS NOT NEW.current
  BEGIN ${take('OLD')}
  END;

  CREATE TRIGGER path_contents_update_new AFTER UPDATE OF current ON measured
    WHEN NEW.kind = 'file' AND NEW.current IS NOT NULL AND OLD.current IS NOT NEW.current
  BEGIN ${add('NEW')}
  END;

  -- A host that changes group, or is revoked or comes back, moves all its counts.
  CREATE TRIGGER path_contents_host_out AFTER UPDATE OF grp, state ON hosts
    WHEN OLD.state != 'revoked' AND (OLD.grp IS NOT NEW.grp OR NEW.state = 'revoked')
  BEGIN
    UPDATE path_contents SET hosts = hosts - 1 WHERE grp = OLD.grp AND (key, content) IN (${hostPairs('OLD.host')});
    DELETE FROM path_contents WHERE grp = OLD.grp AND hosts <= 0 AND key IN (SELECT key FROM measured WHERE host = OLD.host AND kind = 'file');
  END;

  CREATE TRIGGER path_contents_host_in AFTER UPDATE OF grp, state ON hosts
    WHEN NEW.state != 'revoked' AND (OLD.grp IS NOT NEW.grp OR OLD.state = 'revoked')
  BEGIN
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT NEW.grp, p.key, p.content, 1 FROM (${hostPairs('NEW.host')}) p WHERE true
      ON CONFLICT DO UPDATE SET hosts = hosts + 1;
  END;
`;
