import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toDollarParams } from '../../../server/storage/engine.ts';
import { describeEngines } from '../../helpers/engines.ts';

test('placeholders become $n outside literals, identifiers and comments; named ones are numbered once each', () => {
  assert.deepEqual(toDollarParams('SELECT \'?\', "@x", a FROM t WHERE b = ? AND c = ? -- why?\n'), {
    text: 'SELECT \'?\', "@x", a FROM t WHERE b = $1 AND c = $2 -- why?\n',
    names: null,
  });
  assert.deepEqual(toDollarParams('UPDATE t SET a = @now + @gap WHERE b <= @now'), { text: 'UPDATE t SET a = $1 + $2 WHERE b <= $1', names: ['now', 'gap'] });
  assert.throws(() => toDollarParams('SELECT ? , @x'), /mixes/);
});

describeEngines('the store engine', ({ engine, open }) => {
  test('statements with positional and named parameters; run counts the rows it changed', async () => {
    const db = await open();
    await db.run('CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL, at BIGINT)');
    assert.equal(await db.run('INSERT INTO t (id, name, at) VALUES (?, ?, ?), (?, ?, ?)', [1, 'a', 1_700_000_000_000, 2, "b'?", null]), 2);
    assert.equal(await db.run('UPDATE t SET at = @at WHERE at IS NULL OR at < @at', { at: 1_800_000_000_000 }), 2);
    const rows = await db.all<{ id: number; name: string; at: number }>('SELECT id, name, at FROM t ORDER BY id');
    assert.deepEqual(rows, [
      { id: 1, name: 'a', at: 1_800_000_000_000 },
      { id: 2, name: "b'?", at: 1_800_000_000_000 },
    ]);
    const count = await db.get<{ n: number; s: number }>('SELECT count(*) AS n, sum(id) AS s FROM t');
    assert.deepEqual(count, { n: 2, s: 3 }, 'counts and sums come back as numbers on both engines');
    assert.equal(await db.get('SELECT id FROM t WHERE id = ?', [9]), undefined);
    assert.equal(db.engine, engine);
  });

  test('a transaction commits when its function resolves and rolls back when it throws', async () => {
    const db = await open();
    await db.run('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    assert.equal(
      await db.tx(async (tx) => {
        await tx.run('INSERT INTO t (id) VALUES (1)');
        return 'done';
      }),
      'done',
    );
    await assert.rejects(
      db.tx(async (tx) => {
        await tx.run('INSERT INTO t (id) VALUES (2)');
        throw new Error('no');
      }),
      /no/,
    );
    assert.deepEqual(await db.all('SELECT id FROM t'), [{ id: 1 }]);
  });

  test('batch runs one statement per row in one transaction: first row of each, in order; one failure stores none', async () => {
    const db = await open();
    await db.run('CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)');
    assert.deepEqual(
      await db.batch('INSERT INTO t (id, n) VALUES (?, ?)', [
        [1, 0],
        [2, 0],
        [3, 0],
      ]),
      [undefined, undefined, undefined],
    );
    // A row updated twice in one batch: the second run sees the first; a run that matches nothing gives undefined.
    const got = await db.batch<{ id: number; n: number }>('UPDATE t SET n = n + @by WHERE id = @id RETURNING id, n', [
      { id: 2, by: 5 },
      { id: 9, by: 1 },
      { id: 2, by: 1 },
      { id: 1, by: 7 },
    ]);
    assert.deepEqual(got, [{ id: 2, n: 5 }, undefined, { id: 2, n: 6 }, { id: 1, n: 7 }]);
    // The third run breaks the key: the runs before it are rolled back with it.
    await assert.rejects(
      db.batch('UPDATE t SET n = n + 100, id = ? WHERE id = ?', [
        [1, 1],
        [2, 2],
        [3, 1],
      ]),
      /UNIQUE|duplicate key/,
    );
    assert.deepEqual(await db.all('SELECT id, n FROM t ORDER BY id'), [
      { id: 1, n: 7 },
      { id: 2, n: 6 },
      { id: 3, n: 0 },
    ]);
    assert.deepEqual(await db.batch('SELECT 1 AS one', []), []);
  });

  test('a batch never joins a transaction running meanwhile, and from inside one fails at once', async () => {
    const db = await open();
    await db.run('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    // Another task (a timer set before the transaction) sends a batch while the transaction waits.
    let outside: Promise<unknown> | undefined;
    const timer = setTimeout(() => {
      outside = db.batch('INSERT INTO t (id) VALUES (?)', [[2], [3]]);
    }, 5);
    await assert.rejects(
      db.tx(async (tx) => {
        await tx.run('INSERT INTO t (id) VALUES (1)');
        await assert.rejects(db.batch('INSERT INTO t (id) VALUES (?)', [[5]]), /from inside one of its transactions/);
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('roll back');
      }),
      /roll back/,
    );
    clearTimeout(timer);
    await outside;
    assert.deepEqual(await db.all('SELECT id FROM t ORDER BY id'), [{ id: 2 }, { id: 3 }]);
  });

  test('a statement from outside a transaction never joins it (it is not rolled back with it)', async () => {
    const db = await open();
    await db.run('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    // Another task (a timer set before the transaction) writes while the transaction waits.
    let outside: Promise<number> | undefined;
    const timer = setTimeout(() => {
      outside = db.run('INSERT INTO t (id) VALUES (2)');
    }, 5);
    await assert.rejects(
      db.tx(async (tx) => {
        await tx.run('INSERT INTO t (id) VALUES (1)');
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('roll back');
      }),
    );
    clearTimeout(timer);
    assert.equal(await outside, 1);
    assert.deepEqual(await db.all('SELECT id FROM t'), [{ id: 2 }]);
  });

  test('a statement on the database itself from inside its own transaction fails at once (it would wait forever)', async () => {
    const db = await open();
    await db.run('CREATE TABLE t (id BIGINT PRIMARY KEY)');
    await assert.rejects(
      db.tx(async (tx) => {
        await tx.run('INSERT INTO t (id) VALUES (1)');
        await db.get('SELECT id FROM t');
      }),
      /from inside one of its transactions/,
    );
    await assert.rejects(
      db.tx(async () => db.tx(async () => 1)),
      /from inside one of its transactions/,
    );
    assert.deepEqual(await db.all('SELECT id FROM t'), []);
  });

  test('onlyOne: a second transaction for the same job while the first holds it does not run (PostgreSQL); SQLite runs each', async () => {
    const db = await open();
    let inside = 0;
    const job = (body: () => Promise<void>) =>
      db.tx(
        async () => {
          inside++;
          await body();
          return 'ran';
        },
        { onlyOne: 'retention' },
      );
    // The first holds its transaction until the second has answered, however slow the host: no timing involved.
    // SQLite serialises transactions on its one connection, so there the first must not wait for the second.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inFirst = new Promise<void>((r) => (entered = r));
    const first = job(async () => {
      entered();
      if (engine === 'postgres') await held;
    });
    await inFirst;
    const second = await job(async () => {});
    release();
    assert.deepEqual([await first, second], engine === 'postgres' ? ['ran', undefined] : ['ran', 'ran']);
    assert.equal(inside, engine === 'postgres' ? 1 : 2);
  });

  test('notify wakes the listeners on its channel, and only them', async () => {
    const db = await open();
    const other = await open();
    let woken = 0;
    let wrong = 0;
    const stop = db.listen('tw_commands', () => woken++);
    db.listen('tw_other', () => wrong++);
    await waitFor(async () => {
      await db.notify('tw_commands');
      return woken > 0;
    });
    assert.equal(wrong, engine === 'postgres' ? wrong : 0);
    stop();
    const before = woken;
    await db.notify('tw_commands');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(woken, before, 'a stopped listener is not called');
    await assert.rejects(other.notify('bad channel; DROP TABLE x'), /bad channel name/);
  });
});

describeEngines('the PostgreSQL engine across a database restart', ({ engine, open }) => {
  test('connections killed by the server: the pool and the wake-up listener reconnect, the process lives', {
    skip: engine === 'sqlite' ? 'SQLite has no connections to lose' : false,
  }, async () => {
    const db = await open();
    let woken = 0;
    db.listen('tw_wake', () => woken++);
    await waitFor(async () => {
      await db.notify('tw_wake');
      return woken > 0;
    });
    // What a restart does to every session: terminate them (the pool's idle clients and the listener).
    await db.run('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await retry(() => db.get('SELECT 1 AS one')), { one: 1 });
    const before = woken;
    await waitFor(async () => {
      await db.notify('tw_wake').catch(() => {});
      return woken > before;
    });
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i > 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
