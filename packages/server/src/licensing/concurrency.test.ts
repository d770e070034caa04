import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activationBody, deviceHeaders, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { commitOnceRacerWaits, createTestPostgres } from '@licensor/testkit/postgres';
import request from 'supertest';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type LicensorApp } from '../app';
import { testConfig } from '../config';
import { type AnyDatabase, openDatabaseFromUrl } from '../db/open';
import type { Storage } from '../db/storage';
import { KeyStore } from '../keys/keystore';
import { createLogger } from '../logger';

// The activation API's guarantees under concurrent requests, on both backends: activation and check-in run at
// READ COMMITTED on PostgreSQL with explicit locks (ACTIVATION_ISOLATION, CHECK_IN_ISOLATION), so what SERIALIZABLE
// gave for free is proven here again, plus how many statements each transaction sends (each a round trip on
// PostgreSQL). Two server processes on one database: test/instances.e2e.test.ts.

const pgTest = await createTestPostgres('activation-concurrency');
afterAll(() => pgTest?.drop());

interface Counted {
  /** Statements sent through transaction handles, per transaction, in the order the transactions began. */
  transactions: number[];
  /** Statements sent on the top-level storage (outside any transaction). */
  outside: number;
}

/** The database with every transaction's handle counting the statements sent through it. */
function counting(db: AnyDatabase, counted: Counted): AnyDatabase {
  const wrap = (tx: Storage, slot: number): Storage =>
    new Proxy(tx, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'all' || prop === 'first' || prop === 'run' || prop === 'lockRow') {
          return (...args: unknown[]) => {
            counted.transactions[slot]!++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        if (prop === 'transaction' || prop === 'batched') {
          return (fn: (tx: Storage) => Promise<unknown>, o?: unknown) =>
            (value as (...a: unknown[]) => unknown).call(target, (inner: Storage) => fn(wrap(inner, slot)), o);
        }
        return value;
      },
    });
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'transaction' || prop === 'batched') {
        return (fn: (tx: Storage) => Promise<unknown>, o?: unknown) =>
          (value as (...a: unknown[]) => unknown).call(
            target,
            (tx: Storage) => {
              // A rerun of fn (a PostgreSQL serialization failure) counts as a transaction of its own.
              counted.transactions.push(0);
              return fn(wrap(tx, counted.transactions.length - 1));
            },
            o,
          );
      }
      if (prop === 'all' || prop === 'first' || prop === 'run') {
        return (...args: unknown[]) => {
          counted.outside++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const backends = [
  { name: 'sqlite', url: undefined as string | undefined, available: true },
  { name: 'postgres', url: pgTest?.url, available: pgTest !== undefined },
];

describe.each(backends)('activation API under concurrency on $name', ({ name, url, available }) => {
  if (!available) {
    it.skip(`${name} is not reachable here (see the warning above)`, () => {});
    return;
  }
  let dir: string;
  let db: AnyDatabase;
  let licensor: LicensorApp;
  const counted: Counted = { transactions: [], outside: 0 };
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-concurrency-'));
    const raw = await openDatabaseFromUrl(url ? { kind: 'postgres', url } : { kind: 'sqlite', path: undefined }, {
      dataDir: dir,
    });
    if (url) await raw.exec('TRUNCATE entitlements, activations, activation_keys, device_nonces, audit_log CASCADE');
    db = counting(raw, counted);
    const { store: keys } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
    licensor = await createApp({ config: testConfig({ dataDir: dir }), db, keys, log: createLogger('silent') });
    counted.transactions = [];
  });
  afterEach(async () => {
    await licensor.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const activate = (body: object) => request(licensor.app).post('/api/v1/activations').send(body);

  it('binds one device activated 10 times at once once: one activation, nine re-activations', async () => {
    const ent = await seedEntitlement(db, { seats: 3 });
    const device = newDevice();
    const answers = await Promise.all(Array.from({ length: 10 }, () => activate(activationBody(device, ent.code!))));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.body.activationId)).size).toBe(1);
    expect(answers.filter((a) => a.body.reactivated === true)).toHaveLength(9);
    expect(await db.all('SELECT seat FROM activations WHERE entitlement_id = ?', [ent.id])).toEqual([{ seat: 0 }]);
  });

  it('gives 12 devices activating a 3-seat license at once exactly the 3 seats, without reruns', async () => {
    const ent = await seedEntitlement(db, { seats: 3 });
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => activate(activationBody(newDevice(), ent.code!))),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.body.error?.code === 'TOO_MANY_DEVICES')).toHaveLength(9);
    const seats = await db.all<{ seat: number }>(
      'SELECT seat FROM activations WHERE entitlement_id = ? ORDER BY seat',
      [ent.id],
    );
    expect(seats.map((s) => s.seat)).toEqual([0, 1, 2]);
    // One transaction per request: they queued on the license's row instead of colliding and rerunning.
    expect(counted.transactions).toHaveLength(12);
  });

  it('refuses all but one of 8 check-ins sent at once with the same nonce', async () => {
    const ent = await seedEntitlement(db, { seats: 1 });
    const device = newDevice();
    const { body: activated } = await activate(activationBody(device, ent.code!));
    const path = `/api/v1/activations/${activated.activationId}/check-in`;
    const body = JSON.stringify({ appVersion: '2.0.0' });
    const headers = deviceHeaders(device, activated.activationId, 'POST', path, body);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => request(licensor.app).post(path).set(headers).send(body)),
    );
    expect(answers.filter((a) => a.status === 200 && a.body.status === 'VALID')).toHaveLength(1);
    expect(answers.filter((a) => a.body.error?.code === 'REPLAYED')).toHaveLength(7);
  });

  it('sends 7 statements in a new-device activation transaction (1 outside it) and 5 in a check-in transaction', async () => {
    const ent = await seedEntitlement(db, { seats: 2 });
    await activate(activationBody(newDevice(), ent.code!)); // the second device: candidates to read
    const device = newDevice();
    counted.transactions = [];
    counted.outside = 0;
    const { body: activated } = await activate(activationBody(device, ent.code!));
    // Lock-and-read the entitlement (found by its code: no lookup before the transaction), its policy, its devices;
    // insert the activation, its key, its audit entry; the webhook endpoints subscribed to activation.created (none
    // here). After the commit, one read: the catalogue's edition and features for the License file.
    expect(counted.transactions).toEqual([7]);
    expect(counted.outside).toBe(1);
    counted.transactions = [];
    const path = `/api/v1/activations/${activated.activationId}/check-in`;
    const body = JSON.stringify({});
    await request(licensor.app)
      .post(path)
      .set(deviceHeaders(device, activated.activationId, 'POST', path, body))
      .send(body)
      .expect(200);
    // The nonce; the device's row (stamped seen, locked, returned); the entitlement and its policy; the catalogue's
    // edition and features for the License file (one read).
    expect(counted.transactions).toEqual([5]);
  });

  it('activates a family-C instance in one transaction, and tries no transaction for a code that cannot exist', async () => {
    const ent = await seedEntitlement(db, { family: 'C', seats: 2 });
    counted.transactions = [];
    expect((await activate(activationBody(newDevice(), ent.id))).status).toBe(200);
    expect(counted.transactions).toHaveLength(1);
    counted.transactions = [];
    // A check character off (LSR-00000-00000-00000-00000 is valid): no code was ever minted so.
    const unknown = await activate(activationBody(newDevice(), 'LSR-00000-00000-00000-00001'));
    expect(unknown.body.error?.code).toBe('NOT_FOUND');
    expect(counted.transactions).toEqual([]);
  });
});

// Interleavings that only PostgreSQL can produce: SQLite runs one write transaction at a time, so another writer can
// never commit between a transaction's read and its write. Each test holds a concurrent change open on a connection
// of its own (what freeSeat, moveLicense, updateLicense write), lets the activation or check-in read what it changes
// and reach its write, then commits the change: the write must not act on what was read before.
describe.runIf(pgTest !== undefined)('activation and check-in racing another writer on postgres', () => {
  let dir: string;
  let db: AnyDatabase;
  let licensor: LicensorApp;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'licensor-concurrency-'));
    db = await openDatabaseFromUrl({ kind: 'postgres', url: pgTest!.url }, { dataDir: dir });
    await db.exec('TRUNCATE entitlements, activations, activation_keys, device_nonces, audit_log CASCADE');
    const { store: keys } = KeyStore.open(join(dir, 'keys'), 'test-passphrase');
    licensor = await createApp({ config: testConfig({ dataDir: dir }), db, keys, log: createLogger('silent') });
  });
  afterEach(async () => {
    await licensor.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const activate = (body: object) => request(licensor.app).post('/api/v1/activations').send(body);

  /**
   * Runs `change` on its own connection (one statement, or several in one serializable transaction), starts
   * `racer`, and commits the change once `racer` waits for a row lock or has finished.
   */
  async function commitWhileWaiting<T>(
    change: string | string[],
    params: unknown[],
    racer: () => Promise<T>,
  ): Promise<T> {
    if (db.dialect !== 'postgres') throw new Error('postgres only');
    const client = await db.pg.connectDedicated();
    try {
      await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      for (const statement of Array.isArray(change) ? change : [change]) await client.query(statement, params);
      // Until the racer waits for a row the change holds, or (when it takes no lock the change holds) has finished.
      return await commitOnceRacerWaits(client, racer, 'the racing transaction');
    } finally {
      await client.end();
    }
  }

  it('a device freed while it re-activates gets a new seat-holding activation, not a seatless active one', async () => {
    const ent = await seedEntitlement(db, { seats: 1 });
    const device = newDevice();
    const { body: first } = await activate(activationBody(device, ent.code!)).expect(200);
    const again = await commitWhileWaiting(
      `UPDATE activations SET status = 'released', seat = NULL, released_at = now()::text, released_by = 'admin:test' WHERE id = $1`,
      [first.activationId],
      () => activate(activationBody(device, ent.code!)),
    );
    expect(again.body).toMatchObject({ reactivated: false });
    // Freed, then activated: a new activation on the free seat (what the two in either order give).
    expect(again.body.activationId).not.toBe(first.activationId);
    const active = await db.all<{ id: string; seat: number | null }>(
      `SELECT id, seat FROM activations WHERE entitlement_id = ? AND status = 'active'`,
      [ent.id],
    );
    expect(active).toEqual([{ id: again.body.activationId, seat: 0 }]);
    // The license's one seat is taken: another device is refused.
    const other = await activate(activationBody(newDevice(), ent.code!));
    expect(other.body.error?.code).toBe('TOO_MANY_DEVICES');
  });

  it('a device moved to another license while it re-activates is not re-bound to the old one', async () => {
    const ent = await seedEntitlement(db, { seats: 1 });
    const target = await seedEntitlement(db, { seats: 1 });
    const device = newDevice();
    const { body: first } = await activate(activationBody(device, ent.code!)).expect(200);
    const again = await commitWhileWaiting(
      'UPDATE activations SET entitlement_id = $1, seat = 0 WHERE id = $2',
      [target.id, first.activationId],
      () => activate(activationBody(device, ent.code!)),
    );
    expect(again.status).toBe(200);
    // The moved activation stays the target's; the old license's code gives the device a new activation there.
    expect(again.body.activationId).not.toBe(first.activationId);
    expect(
      await db.all(`SELECT entitlement_id, seat FROM activations WHERE status = 'active' ORDER BY entitlement_id = ?`, [
        ent.id,
      ]),
    ).toEqual([
      { entitlement_id: target.id, seat: 0 },
      { entitlement_id: ent.id, seat: 0 },
    ]);
  });

  it('a lapsed floating device taking a seat back at check-in sees the seats an operator just lowered', async () => {
    const ent = await seedEntitlement(db, { seats: 3, policy: { mode: 'floating', leaseMinutes: 10 } });
    const device = newDevice();
    const { body: lapsing } = await activate(activationBody(device, ent.code!)).expect(200);
    for (let i = 0; i < 2; i++) await activate(activationBody(newDevice(), ent.code!)).expect(200);
    // Its lease ran out and was culled: two of three seats in use.
    await db.run(`UPDATE activations SET status = 'lapsed', seat = NULL WHERE id = ?`, [lapsing.activationId]);
    const path = `/api/v1/activations/${lapsing.activationId}/check-in`;
    const body = JSON.stringify({});
    // The operator lowers the seats to the two in use (updateLicense: count the devices in use, then write).
    const checkIn = await commitWhileWaiting(
      [
        `SELECT count(*) FROM activations WHERE entitlement_id = $1 AND status = 'active'`,
        'UPDATE entitlements SET seats_override = 2, seats = 2 WHERE id = $1',
      ],
      [ent.id],
      () =>
        request(licensor.app)
          .post(path)
          .set(deviceHeaders(device, lapsing.activationId, 'POST', path, body))
          .send(body),
    );
    expect(checkIn.body.status).toBe('TOO_MANY_DEVICES');
    const active = await db.all(`SELECT id FROM activations WHERE entitlement_id = ? AND status = 'active'`, [ent.id]);
    expect(active).toHaveLength(2);
  });
});
