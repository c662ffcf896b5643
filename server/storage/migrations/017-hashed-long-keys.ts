/**
 * Migration 17: paths and subjects at the protocol's limit (4,096 UTF-16 units, up to ~12 KB of UTF-8) in
 * keys and unique indexes. SQLite's b-tree takes a key of any length: nothing to do there. PostgreSQL's refuses
 * an entry over 2704 bytes, so one long path an intruder creates under a guarded directory failed every write
 * of its host's report or event, and with it every finding beside it.
 */
export default `
  -- nothing: SQLite indexes text of any length
`;

/**
 * Migration 17 in PostgreSQL 15: each key or unique index over a path or subject becomes a unique index over
 * md5 of that column (32 bytes, whatever the path), under the same name; the columns keep their NOT NULL. A
 * statement that looks a row up by such a column names the same md5 expression beside the plain comparison
 * (storage/text-key.ts), and the path_contents trigger functions are replaced by ones that do.
 */
export const postgres = `
  ALTER TABLE measured DROP CONSTRAINT measured_pkey;
  CREATE UNIQUE INDEX measured_pkey ON measured (host, kind, md5(key));
  DROP INDEX measured_by_key;
  CREATE INDEX measured_by_key ON measured (kind, md5(key));

  DROP INDEX alarms_open;
  CREATE UNIQUE INDEX alarms_open ON alarms (host, kind, md5(subject)) WHERE resolved_at IS NULL;

  ALTER TABLE path_contents DROP CONSTRAINT path_contents_pkey;
  CREATE UNIQUE INDEX path_contents_pkey ON path_contents (grp, md5(key), md5(content));

  ALTER TABLE checker_accepted DROP CONSTRAINT checker_accepted_pkey;
  CREATE UNIQUE INDEX checker_accepted_pkey ON checker_accepted (host, checker, db_sha256, md5(path), change, md5(attrs));

  CREATE OR REPLACE FUNCTION path_contents_count_in() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  DECLARE
    ck TEXT := path_content_key(NEW.current);
  BEGIN
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT h.grp, p.key, p.content, 1 FROM hosts h,
        (SELECT NEW.key AS key, ''::text AS content UNION ALL SELECT NEW.key, ck WHERE ck IS NOT NULL) p
      WHERE h.host = NEW.host AND h.state != 'revoked'
      ON CONFLICT (grp, md5(key), md5(content)) DO UPDATE SET hosts = path_contents.hosts + 1;
    RETURN NULL;
  END $$;

  CREATE OR REPLACE FUNCTION path_contents_count_out() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  DECLARE
    ck TEXT := COALESCE(path_content_key(OLD.current), '');
  BEGIN
    UPDATE path_contents SET hosts = hosts - 1
      WHERE grp = (SELECT h.grp FROM hosts h WHERE h.host = OLD.host AND h.state != 'revoked')
        AND md5(key) = md5(OLD.key) AND key = OLD.key AND content IN ('', ck);
    DELETE FROM path_contents WHERE md5(key) = md5(OLD.key) AND key = OLD.key AND content IN ('', ck) AND hosts <= 0;
    RETURN NULL;
  END $$;

  CREATE OR REPLACE FUNCTION path_contents_host_out() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE path_contents pc SET hosts = pc.hosts - 1 FROM (
      SELECT m.key, ''::text AS content FROM measured m WHERE m.host = OLD.host AND m.kind = 'file' AND m.current IS NOT NULL
      UNION ALL
      SELECT m.key, path_content_key(m.current) FROM measured m
        WHERE m.host = OLD.host AND m.kind = 'file' AND m.current IS NOT NULL AND path_content_key(m.current) IS NOT NULL
    ) p
      WHERE pc.grp = OLD.grp AND md5(pc.key) = md5(p.key) AND md5(pc.content) = md5(p.content) AND pc.key = p.key AND pc.content = p.content;
    DELETE FROM path_contents WHERE grp = OLD.grp AND hosts <= 0
      AND md5(key) IN (SELECT md5(m.key) FROM measured m WHERE m.host = OLD.host AND m.kind = 'file')
      AND key IN (SELECT m.key FROM measured m WHERE m.host = OLD.host AND m.kind = 'file');
    RETURN NULL;
  END $$;

  CREATE OR REPLACE FUNCTION path_contents_host_in() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT NEW.grp, p.key, p.content, 1 FROM (
        SELECT m.key AS key, ''::text AS content FROM measured m WHERE m.host = NEW.host AND m.kind = 'file' AND m.current IS NOT NULL
        UNION ALL
        SELECT m.key, path_content_key(m.current) FROM measured m
          WHERE m.host = NEW.host AND m.kind = 'file' AND m.current IS NOT NULL AND path_content_key(m.current) IS NOT NULL
      ) p
      ON CONFLICT (grp, md5(key), md5(content)) DO UPDATE SET hosts = path_contents.hosts + 1;
    RETURN NULL;
  END $$;
`;
