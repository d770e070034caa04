import { describe, expect, it } from 'vitest';
import { currentVersion, MIGRATIONS, migrate } from './migrations';
import { migrationTarget, openSqliteDatabase } from './sqlite';

/**
 * Migrations run synchronously on the write connection (as openSqliteDatabase runs them at open); these checks
 * read and write beside them the same way.
 */
function openSync(opts: { migrate?: boolean } = {}) {
  const database = openSqliteDatabase(':memory:', opts);
  const raw = database.raw;
  return {
    ...migrationTarget(raw),
    all: <T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []) =>
      raw.prepare(sql).all(...params) as T[],
    integrityCheck: () =>
      (raw.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check),
    close: () => database.close(),
  };
}

describe('migrations', () => {
  it('build the schema from an empty database', async () => {
    const db = openSync();
    expect(currentVersion(db)).toBe(MIGRATIONS.at(-1)!.version);
    expect(db.integrityCheck()).toEqual(['ok']);
    expect(migrate(db)).toEqual([]);
    await db.close();
  });

  it('upgrade from every earlier version to the latest', async () => {
    for (const m of MIGRATIONS) {
      const db = openSync({ migrate: false });
      migrate(db, m.version);
      expect(currentVersion(db)).toBe(m.version);
      const applied = migrate(db);
      expect(applied).toEqual(MIGRATIONS.filter((x) => x.version > m.version).map((x) => x.version));
      expect(currentVersion(db)).toBe(MIGRATIONS.at(-1)!.version);
      expect(db.integrityCheck()).toEqual(['ok']);
      await db.close();
    }
  });

  it('have strictly increasing versions', async () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('roll back a failing migration as a whole', async () => {
    const db = openSync();
    const before = currentVersion(db);
    expect(() =>
      migrate(db, Number.POSITIVE_INFINITY, [
        { version: before + 1, name: 'broken', sql: 'CREATE TABLE t1 (a); SELECT nope FROM nowhere;' },
      ]),
    ).toThrow();
    expect(currentVersion(db)).toBe(before);
    expect(db.first("SELECT name FROM sqlite_master WHERE name = 't1'")).toBeUndefined();
    await db.close();
  });

  it('019 backfills order_keys with each order line once, at its first sighting in any table', async () => {
    const db = openSync({ migrate: false });
    migrate(db, 18);
    const license = (id: string, family: string, orderId: string | null, line: string | null, at: string) =>
      db.run(
        `INSERT INTO entitlements (id, family, order_id, order_line_id, seats, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, 1, 'active', ?, ?)`,
        [id, family, orderId, line, at, at],
      );
    // Notified, then fetched: seen when notified. Bought by newInstance, fetched later: seen at the purchase.
    db.run(`INSERT INTO order_notifications (order_id, order_line_id, received_at) VALUES ('N', 'N-1', '2025-01-02')`);
    db.run(`INSERT INTO orders (order_id, order_line_id, info, fetched_at) VALUES ('N', 'N-1', '{}', '2025-01-03')`);
    license('c1', 'C', 'C', 'C-1', '2025-01-04');
    db.run(`INSERT INTO orders (order_id, order_line_id, info, fetched_at) VALUES ('C', 'C-1', '{}', '2025-01-05')`);
    // License 1.0 (no lines), a family C purchase never fetched; a direct license and a family B code are no orders.
    license('a1', 'A', 'A', null, '2025-01-06');
    license('c2', 'C', 'P', 'P-1', '2025-01-07');
    license('d1', 'direct', null, null, '2025-01-08');
    license('b1', 'B', 'B', null, '2025-01-09');
    migrate(db);
    expect(db.all('SELECT order_id, order_line_id, seen_at FROM order_keys ORDER BY seen_at')).toEqual([
      { order_id: 'N', order_line_id: 'N-1', seen_at: '2025-01-02' },
      { order_id: 'C', order_line_id: 'C-1', seen_at: '2025-01-04' },
      { order_id: 'A', order_line_id: '', seen_at: '2025-01-06' },
      { order_id: 'P', order_line_id: 'P-1', seen_at: '2025-01-07' },
    ]);
    await db.close();
  });

  it('005 re-keys device_nonces by time, keeping its rows and refusing exact replays only', async () => {
    const db = openSync({ migrate: false });
    migrate(db, 4);
    expect(currentVersion(db)).toBe(4);
    const index = "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'device_nonces_expiry'";
    expect(db.first(index)).toEqual({ name: 'device_nonces_expiry' });
    const rows = [
      { activation_id: 'act-a', nonce: 'n1', expires_at: 1_700_000_300_000 },
      { activation_id: 'act-a', nonce: 'n2', expires_at: 1_700_000_100_000 },
      { activation_id: 'act-b', nonce: 'n1', expires_at: 1_700_000_200_000 },
    ];
    for (const r of rows) {
      db.run('INSERT INTO device_nonces (activation_id, nonce, expires_at) VALUES (?, ?, ?)', [
        r.activation_id,
        r.nonce,
        r.expires_at,
      ]);
    }

    expect(migrate(db, 5)).toEqual([5]);
    expect(currentVersion(db)).toBe(5);
    expect(db.all('SELECT activation_id, nonce, expires_at FROM device_nonces ORDER BY activation_id, nonce')).toEqual(
      rows,
    );
    const columns = db.all<{ name: string; pk: number }>("SELECT name, pk FROM pragma_table_info('device_nonces')");
    const key = columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    expect(key.map((c) => c.name)).toEqual(['expires_at', 'activation_id', 'nonce']);
    expect(() => db.first('SELECT rowid FROM device_nonces')).toThrow(/rowid/); // still WITHOUT ROWID
    expect(db.first(index)).toBeUndefined();
    expect(db.all("SELECT name FROM sqlite_master WHERE tbl_name LIKE 'device_nonces%' AND sql IS NOT NULL")).toEqual([
      { name: 'device_nonces' },
    ]);
    // Culling expired nonces (licensing/device.ts) now searches the key itself instead of the dropped index.
    const plan = db.all<{ detail: string }>('EXPLAIN QUERY PLAN DELETE FROM device_nonces WHERE expires_at < ?', [0]);
    expect(plan.map((p) => p.detail)).toEqual(['SEARCH device_nonces USING PRIMARY KEY (expires_at<?)']);

    const insert = 'INSERT OR IGNORE INTO device_nonces (activation_id, nonce, expires_at) VALUES (?, ?, ?)';
    expect(db.run(insert, ['act-a', 'n1', 1_700_000_300_000]).changes).toBe(0); // a replayed request
    expect(db.run(insert, ['act-a', 'n1', 1_700_000_400_000]).changes).toBe(1); // same nonce, other timestamp
    expect(db.run(insert, ['act-c', 'n1', 1_700_000_300_000]).changes).toBe(1); // same nonce, other activation
    expect(db.first('SELECT COUNT(*) AS n FROM device_nonces')).toEqual({ n: 5 });
    expect(db.integrityCheck()).toEqual(['ok']);
    await db.close();
  });
  it('015 gives licenses from before 013 their seat count back: the ordered quantity wins over the catalogue', async () => {
    const db = openSync({ migrate: false });
    migrate(db, 12);
    const at = '2026-01-01T00:00:00.000Z';
    db.run(`INSERT INTO catalog_products (product_id, seats, created_at, updated_at) VALUES ('p', 2, ?, ?)`, [at, at]);
    db.run(
      `INSERT INTO catalog_skus (product_id, sku_code, edition, seats, created_at, updated_at) VALUES ('p', 'solo', 'Solo', 1, ?, ?)`,
      [at, at],
    );
    const ent = (id: string, productId: string, sku: string | null, seats: number) =>
      db.run(
        `INSERT INTO entitlements (id, family, product_id, sku_code, seats, status, test, created_at, updated_at)
         VALUES (?, 'A', ?, ?, ?, 'active', 0, ?, ?)`,
        [id, productId, sku, seats, at, at],
      );
    ent('bought-10-solo', 'p', 'solo', 10);
    ent('bought-4', 'p', null, 4);
    ent('other-product', 'q', null, 3);
    const seats = () => db.all('SELECT id, seats, seats_override, ordered_seats FROM entitlements ORDER BY id');

    migrate(db, 14);
    // What 013 did: the catalogue's seats replaced the paid quantity (kept only as ordered_seats).
    expect(seats()).toEqual([
      { id: 'bought-10-solo', seats: 1, seats_override: null, ordered_seats: 10 },
      { id: 'bought-4', seats: 2, seats_override: null, ordered_seats: 4 },
      { id: 'other-product', seats: 3, seats_override: null, ordered_seats: 3 },
    ]);
    db.run(`UPDATE entitlements SET seats_override = 7, seats = 7 WHERE id = 'other-product'`);

    expect(migrate(db, 15)).toEqual([15]);
    expect(seats()).toEqual([
      { id: 'bought-10-solo', seats: 10, seats_override: null, ordered_seats: 10 },
      { id: 'bought-4', seats: 4, seats_override: null, ordered_seats: 4 },
      { id: 'other-product', seats: 7, seats_override: 7, ordered_seats: 3 },
    ]);
    await db.close();
  });

  it('020 numbers licenses, devices and deliveries in creation order: seq is the rowid, old rows and new', async () => {
    const db = openSync({ migrate: false });
    migrate(db, 19);
    const at = (d: number) => `2026-01-0${d}T00:00:00.000Z`;
    const ent = (id: string, d: number) =>
      db.run(
        `INSERT INTO entitlements (id, family, seats, status, test, created_at, updated_at)
         VALUES (?, 'direct', 1, 'active', 0, ?, ?)`,
        [id, at(d), at(d)],
      );
    // Inserted out of date order on purpose: the order is the insertion order, as the rowid's was.
    ent('second', 2);
    ent('first', 1);
    db.run("DELETE FROM entitlements WHERE id = 'first'");
    ent('third', 3);
    const before = db.all<{ id: string; rowid: number }>('SELECT id, rowid FROM entitlements ORDER BY rowid');

    expect(migrate(db, 20)).toEqual([20]);
    expect(db.all('SELECT id, seq AS rowid FROM entitlements ORDER BY seq')).toEqual(before);
    ent('fourth', 4);
    db.run(
      `INSERT INTO entitlements (id, family, seats, status, test, created_at, updated_at, seq)
       VALUES ('given', 'direct', 1, 'active', 0, ?, ?, 1000)`,
      [at(5), at(5)],
    );
    ent('after-given', 6);
    // A seq given by an insert is replaced too: seq and rowid can never disagree (or collide later).
    expect(db.all('SELECT id, seq, rowid AS r FROM entitlements ORDER BY seq')).toEqual([
      { id: 'second', seq: 1, r: 1 },
      { id: 'third', seq: 2, r: 2 },
      { id: 'fourth', seq: 3, r: 3 },
      { id: 'given', seq: 4, r: 4 },
      { id: 'after-given', seq: 5, r: 5 },
    ]);
    expect(() => db.run("UPDATE entitlements SET seq = 1 WHERE id = 'third'")).toThrow(/UNIQUE/);
    // A status's licenses are read off the index in list order, newest first, without sorting them.
    const plan = db.all<{ detail: string }>(
      'EXPLAIN QUERY PLAN SELECT * FROM entitlements WHERE status = ? ORDER BY seq DESC LIMIT 5',
      ['active'],
    );
    expect(plan.map((p) => p.detail)).toEqual(['SEARCH entitlements USING INDEX entitlements_status (status=?)']);
    expect(db.integrityCheck()).toEqual(['ok']);
    await db.close();
  });
});
