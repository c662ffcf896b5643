/**
 * Migration 8: how many hosts of a group report each path, and how many have
 * each content, kept by triggers on every write of `measured` and of a host's
 * group or revocation. Judging one file change against its group was a walk
 * of every host that has the path (~1.3 µs a host: a package upgrade on a
 * 10,000-host group cost ~13 ms per event, about two minutes of server CPU
 * per changed file); with these counts it is two index lookups. Triggers, not
 * application code, so that no writer (the server, the CLI, a later
 * migration) can forget them.
 *
 * Frozen text, as shipped: the content key is the SQL that
 * fleet/sample-match.ts `contentKey` produced then, written out. A change to
 * that function does not change this schema; one that must reach the
 * triggers is a new migration that replaces them.
 */
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
      SELECT m.host AS host, m.key AS key, '' AS content FROM measured m WHERE m.kind = 'file' AND m.current IS NOT NULL
      UNION ALL
      SELECT m.host, m.key, (CASE WHEN json_extract(m.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(m.current, '$.error'), '') = '' THEN json_array(json_extract(m.current, '$.type'), json_extract(m.current, '$.sha256'), json_extract(m.current, '$.size'), json_extract(m.current, '$.mode'), json_extract(m.current, '$.uid'), json_extract(m.current, '$.gid'), json_extract(m.current, '$.target')) END) FROM measured m WHERE m.kind = 'file' AND m.current IS NOT NULL AND (CASE WHEN json_extract(m.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(m.current, '$.error'), '') = '' THEN json_array(json_extract(m.current, '$.type'), json_extract(m.current, '$.sha256'), json_extract(m.current, '$.size'), json_extract(m.current, '$.mode'), json_extract(m.current, '$.uid'), json_extract(m.current, '$.gid'), json_extract(m.current, '$.target')) END) IS NOT NULL
    ) p ON p.host = h.host
    WHERE h.state != 'revoked'
    GROUP BY h.grp, p.key, p.content;

  CREATE TRIGGER path_contents_insert AFTER INSERT ON measured WHEN NEW.kind = 'file' AND NEW.current IS NOT NULL
  BEGIN 
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT h.grp, p.key, p.content, 1 FROM hosts h, (SELECT NEW.key AS key, '' AS content UNION ALL SELECT NEW.key, (CASE WHEN json_extract(NEW.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(NEW.current, '$.error'), '') = '' THEN json_array(json_extract(NEW.current, '$.type'), json_extract(NEW.current, '$.sha256'), json_extract(NEW.current, '$.size'), json_extract(NEW.current, '$.mode'), json_extract(NEW.current, '$.uid'), json_extract(NEW.current, '$.gid'), json_extract(NEW.current, '$.target')) END) WHERE (CASE WHEN json_extract(NEW.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(NEW.current, '$.error'), '') = '' THEN json_array(json_extract(NEW.current, '$.type'), json_extract(NEW.current, '$.sha256'), json_extract(NEW.current, '$.size'), json_extract(NEW.current, '$.mode'), json_extract(NEW.current, '$.uid'), json_extract(NEW.current, '$.gid'), json_extract(NEW.current, '$.target')) END) IS NOT NULL) p WHERE h.host = NEW.host AND h.state != 'revoked'
      ON CONFLICT DO UPDATE SET hosts = hosts + 1;
  END;

  CREATE TRIGGER path_contents_delete AFTER DELETE ON measured WHEN OLD.kind = 'file' AND OLD.current IS NOT NULL
  BEGIN 
    UPDATE path_contents SET hosts = hosts - 1
      WHERE grp = (SELECT grp FROM hosts WHERE host = OLD.host AND state != 'revoked') AND key = OLD.key
        AND content IN ('', COALESCE((CASE WHEN json_extract(OLD.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(OLD.current, '$.error'), '') = '' THEN json_array(json_extract(OLD.current, '$.type'), json_extract(OLD.current, '$.sha256'), json_extract(OLD.current, '$.size'), json_extract(OLD.current, '$.mode'), json_extract(OLD.current, '$.uid'), json_extract(OLD.current, '$.gid'), json_extract(OLD.current, '$.target')) END), ''));
    DELETE FROM path_contents WHERE key = OLD.key AND content IN ('', COALESCE((CASE WHEN json_extract(OLD.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(OLD.current, '$.error'), '') = '' THEN json_array(json_extract(OLD.current, '$.type'), json_extract(OLD.current, '$.sha256'), json_extract(OLD.current, '$.size'), json_extract(OLD.current, '$.mode'), json_extract(OLD.current, '$.uid'), json_extract(OLD.current, '$.gid'), json_extract(OLD.current, '$.target')) END), '')) AND hosts <= 0;
  END;

  -- An update of current: the old content's counts out, the new one's in (two triggers, each with a simple WHEN).
  CREATE TRIGGER path_contents_update_old AFTER UPDATE OF current ON measured
    WHEN OLD.kind = 'file' AND OLD.current IS NOT NULL AND OLD.current IS NOT NEW.current
  BEGIN 
    UPDATE path_contents SET hosts = hosts - 1
      WHERE grp = (SELECT grp FROM hosts WHERE host = OLD.host AND state != 'revoked') AND key = OLD.key
        AND content IN ('', COALESCE((CASE WHEN json_extract(OLD.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(OLD.current, '$.error'), '') = '' THEN json_array(json_extract(OLD.current, '$.type'), json_extract(OLD.current, '$.sha256'), json_extract(OLD.current, '$.size'), json_extract(OLD.current, '$.mode'), json_extract(OLD.current, '$.uid'), json_extract(OLD.current, '$.gid'), json_extract(OLD.current, '$.target')) END), ''));
    DELETE FROM path_contents WHERE key = OLD.key AND content IN ('', COALESCE((CASE WHEN json_extract(OLD.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(OLD.current, '$.error'), '') = '' THEN json_array(json_extract(OLD.current, '$.type'), json_extract(OLD.current, '$.sha256'), json_extract(OLD.current, '$.size'), json_extract(OLD.current, '$.mode'), json_extract(OLD.current, '$.uid'), json_extract(OLD.current, '$.gid'), json_extract(OLD.current, '$.target')) END), '')) AND hosts <= 0;
  END;

  CREATE TRIGGER path_contents_update_new AFTER UPDATE OF current ON measured
    WHEN NEW.kind = 'file' AND NEW.current IS NOT NULL AND OLD.current IS NOT NEW.current
  BEGIN 
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT h.grp, p.key, p.content, 1 FROM hosts h, (SELECT NEW.key AS key, '' AS content UNION ALL SELECT NEW.key, (CASE WHEN json_extract(NEW.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(NEW.current, '$.error'), '') = '' THEN json_array(json_extract(NEW.current, '$.type'), json_extract(NEW.current, '$.sha256'), json_extract(NEW.current, '$.size'), json_extract(NEW.current, '$.mode'), json_extract(NEW.current, '$.uid'), json_extract(NEW.current, '$.gid'), json_extract(NEW.current, '$.target')) END) WHERE (CASE WHEN json_extract(NEW.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(NEW.current, '$.error'), '') = '' THEN json_array(json_extract(NEW.current, '$.type'), json_extract(NEW.current, '$.sha256'), json_extract(NEW.current, '$.size'), json_extract(NEW.current, '$.mode'), json_extract(NEW.current, '$.uid'), json_extract(NEW.current, '$.gid'), json_extract(NEW.current, '$.target')) END) IS NOT NULL) p WHERE h.host = NEW.host AND h.state != 'revoked'
      ON CONFLICT DO UPDATE SET hosts = hosts + 1;
  END;

  -- A host that changes group, or is revoked or comes back, moves all its counts.
  CREATE TRIGGER path_contents_host_out AFTER UPDATE OF grp, state ON hosts
    WHEN OLD.state != 'revoked' AND (OLD.grp IS NOT NEW.grp OR NEW.state = 'revoked')
  BEGIN
    UPDATE path_contents SET hosts = hosts - 1 WHERE grp = OLD.grp AND (key, content) IN (
  SELECT m.key AS key, '' AS content FROM measured m WHERE m.host = OLD.host AND m.kind = 'file' AND m.current IS NOT NULL
  UNION ALL
  SELECT m.key, (CASE WHEN json_extract(m.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(m.current, '$.error'), '') = '' THEN json_array(json_extract(m.current, '$.type'), json_extract(m.current, '$.sha256'), json_extract(m.current, '$.size'), json_extract(m.current, '$.mode'), json_extract(m.current, '$.uid'), json_extract(m.current, '$.gid'), json_extract(m.current, '$.target')) END) FROM measured m WHERE m.host = OLD.host AND m.kind = 'file' AND m.current IS NOT NULL AND (CASE WHEN json_extract(m.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(m.current, '$.error'), '') = '' THEN json_array(json_extract(m.current, '$.type'), json_extract(m.current, '$.sha256'), json_extract(m.current, '$.size'), json_extract(m.current, '$.mode'), json_extract(m.current, '$.uid'), json_extract(m.current, '$.gid'), json_extract(m.current, '$.target')) END) IS NOT NULL);
    DELETE FROM path_contents WHERE grp = OLD.grp AND hosts <= 0 AND key IN (SELECT key FROM measured WHERE host = OLD.host AND kind = 'file');
  END;

  CREATE TRIGGER path_contents_host_in AFTER UPDATE OF grp, state ON hosts
    WHEN NEW.state != 'revoked' AND (OLD.grp IS NOT NEW.grp OR OLD.state = 'revoked')
  BEGIN
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT NEW.grp, p.key, p.content, 1 FROM (
  SELECT m.key AS key, '' AS content FROM measured m WHERE m.host = NEW.host AND m.kind = 'file' AND m.current IS NOT NULL
  UNION ALL
  SELECT m.key, (CASE WHEN json_extract(m.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(m.current, '$.error'), '') = '' THEN json_array(json_extract(m.current, '$.type'), json_extract(m.current, '$.sha256'), json_extract(m.current, '$.size'), json_extract(m.current, '$.mode'), json_extract(m.current, '$.uid'), json_extract(m.current, '$.gid'), json_extract(m.current, '$.target')) END) FROM measured m WHERE m.host = NEW.host AND m.kind = 'file' AND m.current IS NOT NULL AND (CASE WHEN json_extract(m.current, '$.sha256') IS NOT NULL AND COALESCE(json_extract(m.current, '$.error'), '') = '' THEN json_array(json_extract(m.current, '$.type'), json_extract(m.current, '$.sha256'), json_extract(m.current, '$.size'), json_extract(m.current, '$.mode'), json_extract(m.current, '$.uid'), json_extract(m.current, '$.gid'), json_extract(m.current, '$.target')) END) IS NOT NULL) p WHERE true
      ON CONFLICT DO UPDATE SET hosts = hosts + 1;
  END;
`;

/**
 * Migration 8 in PostgreSQL 15. The content key is one function, `path_content_key(current)`, that writes the
 * text SQLite's `json_array` writes (no spaces, JSON true/false as 1/0, as `json_extract` returns them), so
 * `path_contents` holds the same rows on both engines; a PostgreSQL query that compares a content with these
 * counts calls that function where SQLite's inlines `contentKey`. Each SQLite trigger is a trigger of the same
 * name, event and condition over a row-level function. PostgreSQL runs AFTER row triggers at the end of the
 * statement rather than row by row; these read only the other table (`hosts` for `measured`, and back), so the
 * counts come out the same.
 */
export const postgres = `
  CREATE TABLE path_contents (
    grp TEXT NOT NULL,
    key TEXT NOT NULL,
    content TEXT NOT NULL,
    hosts BIGINT NOT NULL,
    PRIMARY KEY (grp, key, content)
  );

  CREATE FUNCTION path_content_key(doc TEXT) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE AS $$
  DECLARE
    j JSONB := doc::jsonb;
    field TEXT;
    v JSONB;
    parts TEXT[] := '{}';
  BEGIN
    IF j->>'sha256' IS NULL OR COALESCE(j->>'error', '') <> '' THEN
      RETURN NULL;
    END IF;
    FOREACH field IN ARRAY ARRAY['type', 'sha256', 'size', 'mode', 'uid', 'gid', 'target'] LOOP
      v := j->field;
      parts := parts || CASE
        WHEN v IS NULL OR jsonb_typeof(v) = 'null' THEN 'null'
        WHEN v = 'true'::jsonb THEN '1'
        WHEN v = 'false'::jsonb THEN '0'
        ELSE v::text
      END;
    END LOOP;
    RETURN '[' || array_to_string(parts, ',') || ']';
  END $$;

  INSERT INTO path_contents (grp, key, content, hosts)
    SELECT h.grp, p.key, p.content, COUNT(*) FROM hosts h JOIN (
      SELECT m.host AS host, m.key AS key, '' AS content FROM measured m WHERE m.kind = 'file' AND m.current IS NOT NULL
      UNION ALL
      SELECT m.host, m.key, path_content_key(m.current) FROM measured m
        WHERE m.kind = 'file' AND m.current IS NOT NULL AND path_content_key(m.current) IS NOT NULL
    ) p ON p.host = h.host
    WHERE h.state != 'revoked'
    GROUP BY h.grp, p.key, p.content;

  -- a file row counted in: its path, and its content when it has one
  CREATE FUNCTION path_contents_count_in() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  DECLARE
    ck TEXT := path_content_key(NEW.current);
  BEGIN
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT h.grp, p.key, p.content, 1 FROM hosts h,
        (SELECT NEW.key AS key, ''::text AS content UNION ALL SELECT NEW.key, ck WHERE ck IS NOT NULL) p
      WHERE h.host = NEW.host AND h.state != 'revoked'
      ON CONFLICT (grp, key, content) DO UPDATE SET hosts = path_contents.hosts + 1;
    RETURN NULL;
  END $$;

  -- a file row counted out
  CREATE FUNCTION path_contents_count_out() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  DECLARE
    ck TEXT := COALESCE(path_content_key(OLD.current), '');
  BEGIN
    UPDATE path_contents SET hosts = hosts - 1
      WHERE grp = (SELECT h.grp FROM hosts h WHERE h.host = OLD.host AND h.state != 'revoked') AND key = OLD.key
        AND content IN ('', ck);
    DELETE FROM path_contents WHERE key = OLD.key AND content IN ('', ck) AND hosts <= 0;
    RETURN NULL;
  END $$;

  CREATE TRIGGER path_contents_insert AFTER INSERT ON measured FOR EACH ROW
    WHEN (NEW.kind = 'file' AND NEW.current IS NOT NULL)
    EXECUTE FUNCTION path_contents_count_in();

  CREATE TRIGGER path_contents_delete AFTER DELETE ON measured FOR EACH ROW
    WHEN (OLD.kind = 'file' AND OLD.current IS NOT NULL)
    EXECUTE FUNCTION path_contents_count_out();

  CREATE TRIGGER path_contents_update_old AFTER UPDATE OF current ON measured FOR EACH ROW
    WHEN (OLD.kind = 'file' AND OLD.current IS NOT NULL AND OLD.current IS DISTINCT FROM NEW.current)
    EXECUTE FUNCTION path_contents_count_out();

  CREATE TRIGGER path_contents_update_new AFTER UPDATE OF current ON measured FOR EACH ROW
    WHEN (NEW.kind = 'file' AND NEW.current IS NOT NULL AND OLD.current IS DISTINCT FROM NEW.current)
    EXECUTE FUNCTION path_contents_count_in();

  -- a host that changes group, or is revoked or comes back: all its counts out of the old group, into the new
  CREATE FUNCTION path_contents_host_out() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE path_contents SET hosts = hosts - 1 WHERE grp = OLD.grp AND (key, content) IN (
      SELECT m.key, ''::text FROM measured m WHERE m.host = OLD.host AND m.kind = 'file' AND m.current IS NOT NULL
      UNION ALL
      SELECT m.key, path_content_key(m.current) FROM measured m
        WHERE m.host = OLD.host AND m.kind = 'file' AND m.current IS NOT NULL AND path_content_key(m.current) IS NOT NULL);
    DELETE FROM path_contents WHERE grp = OLD.grp AND hosts <= 0
      AND key IN (SELECT m.key FROM measured m WHERE m.host = OLD.host AND m.kind = 'file');
    RETURN NULL;
  END $$;

  CREATE FUNCTION path_contents_host_in() RETURNS TRIGGER LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO path_contents (grp, key, content, hosts)
      SELECT NEW.grp, p.key, p.content, 1 FROM (
        SELECT m.key AS key, ''::text AS content FROM measured m WHERE m.host = NEW.host AND m.kind = 'file' AND m.current IS NOT NULL
        UNION ALL
        SELECT m.key, path_content_key(m.current) FROM measured m
          WHERE m.host = NEW.host AND m.kind = 'file' AND m.current IS NOT NULL AND path_content_key(m.current) IS NOT NULL
      ) p
      ON CONFLICT (grp, key, content) DO UPDATE SET hosts = path_contents.hosts + 1;
    RETURN NULL;
  END $$;

  CREATE TRIGGER path_contents_host_out AFTER UPDATE OF grp, state ON hosts FOR EACH ROW
    WHEN (OLD.state != 'revoked' AND (OLD.grp IS DISTINCT FROM NEW.grp OR NEW.state = 'revoked'))
    EXECUTE FUNCTION path_contents_host_out();

  CREATE TRIGGER path_contents_host_in AFTER UPDATE OF grp, state ON hosts FOR EACH ROW
    WHEN (NEW.state != 'revoked' AND (OLD.grp IS DISTINCT FROM NEW.grp OR OLD.state = 'revoked'))
    EXECUTE FUNCTION path_contents_host_in();
`;
