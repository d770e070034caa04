import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEVICE_SIGNATURE_HEADER, decodeLicenseFile, signDeviceRequest } from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { type Instances, runCli, startInstances } from '@licensor/testkit/instances';
import { createTestPostgres, type TestPostgres } from '@licensor/testkit/postgres';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import {
  ADMIN_TOKEN,
  AK,
  all,
  call,
  compactTime,
  Device,
  errCode,
  Marketplace,
  SK,
  serverEnv,
  sleep,
  tally,
  uid,
} from './crash/harness';

/**
 * The guarantees of issue 16 ("every guarantee holds across instances on one database"), each with two real server
 * processes behind a round-robin "load balancer", driven only through what a deployment exposes: the production
 * interface (signed as KooGallery signs), the activation API (as a device signs), the admin API and the CLI.
 *
 * The same cases run over each backend:
 * - sqlite-file: two processes on one data folder (one SQLite file, WAL): what serves today;
 * - postgres: two processes on one throwaway PostgreSQL database (LICENSOR_DATABASE_URL), created for this file
 *   and dropped after. Skipped with a warning where no PostgreSQL answers (a failure under CI=true, see
 *   testkit/postgres.ts).
 *
 * Each instance runs the scheduler (LICENSOR_SCHEDULER=on) so the daily duties race at start-up, and logs at info
 * so its "daily runs planned" lines (one per scheduler tick, with the days it planned) can be read. Requests carry an X-Forwarded-For of their own per case
 * (LICENSOR_TRUST_PROXY=127.0.0.1), so the per-address admin failure limiter of one case never sees another's.
 */

/** Failed admin authentications per address and minute (LICENSOR_ADMIN_AUTH_FAILURES). */
const AUTH_LIMIT = 5;
/**
 * How long a change made through one instance may take to reach the other: no restart, and within this bound.
 * Tokens and policies are read from the database on every request today; a cache must stay below this.
 */
const PROPAGATION_BOUND_MS = 2000;
const DAY = 86_400_000;

/** A client address of its own (documentation range 198.18.0.0/15), seen by the server through the proxy header. */
const newAddress = () => `198.18.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 254)}`;

/** The admin API as an operator's script calls it, from `address`. */
function adminCall(base: string, method: string, path: string, opts: { body?: unknown; token?: string; from: string }) {
  return call(`${base}/api/admin/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.token ?? ADMIN_TOKEN}`,
      'content-type': 'application/json',
      'x-forwarded-for': opts.from,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

/** Polls `probe` until it returns true; returns how long that took, or throws after `boundMs`. */
async function within(boundMs: number, what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > boundMs) throw new Error(`${what}: not seen within ${boundMs} ms`);
    await sleep(50);
  }
}

interface Prepared {
  /** Environment every instance adds to the common one (the database). */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

interface Backend {
  name: string;
  /** undefined: skip this backend (the reason was already printed). */
  prepare(dataDir: string): Promise<Prepared | undefined>;
  /**
   * Whether rate-limit counts are shared between the instances. false is a documented difference, with why:
   * the case then asserts what does happen, so a change either way is noticed.
   */
  sharedRateLimits: true | { no: string };
  /** Whether a signing-key rotation reaches running instances (false: documented, with why; asserted as such). */
  liveKeyRotation: true | { no: string };
}

const BACKENDS: Backend[] = [
  {
    name: 'sqlite-file',
    prepare: async () => ({ env: {}, cleanup: async () => {} }),
    sharedRateLimits: {
      no:
        'on SQLite each process counts failures in its own memory (express-rate-limit MemoryStore); the shared ' +
        'store (db/postgres/rateLimitStore.ts) is PostgreSQL-only, and several SQLite processes on one data folder ' +
        'are not a supported multi-instance deployment (docs/design/postgresql.md)',
    },
    liveKeyRotation: {
      no:
        'signing keys are files in the data folder and each process keeps the current one in memory: "Restart the ' +
        'server to sign with it" (packages/server/README.md, keys rotate); keys in the database with ' +
        'LISTEN/NOTIFY (keys/dbSigningKeys.ts) are the PostgreSQL design',
    },
  },
  {
    name: 'postgres',
    prepare: async () => {
      // undefined with a warning where no PostgreSQL answers; under CI=true that throws instead.
      const pg: TestPostgres | undefined = await createTestPostgres('instances-e2e');
      return pg && { env: { LICENSOR_DATABASE_URL: pg.url }, cleanup: () => pg.drop() };
    },
    sharedRateLimits: true,
    liveKeyRotation: true,
  },
];

for (const backend of BACKENDS) {
  describe(`two instances on one database: ${backend.name}`, () => {
    const sim = new MarketplaceSimulator(AK, SK);
    const dataDir = mkdtempSync(join(tmpdir(), `licensor-instances-${backend.name}-`));
    let prepared: Prepared | undefined;
    let fleet: Instances | undefined;
    let skipReason: string | undefined;
    /** The first processes' output (their start-up ticks' "daily runs planned" lines). */
    let startupOutput: string[][] = [];
    let env: Record<string, string> = {};

    beforeAll(async () => {
      const simUrl = await sim.listen();
      prepared = await backend.prepare(dataDir);
      if (!prepared) {
        skipReason = `${backend.name}: PostgreSQL is not reachable (see the warning above)`;
        return;
      }
      const { PORT: _port, ...common } = serverEnv(0, dataDir, simUrl, {
        LICENSOR_TRUST_PROXY: '127.0.0.1',
        LICENSOR_ADMIN_AUTH_FAILURES: String(AUTH_LIMIT),
        LICENSOR_SCHEDULER: 'on',
        LICENSOR_LOG_LEVEL: 'info',
      });
      env = { ...common, ...prepared.env };
      // Keys and schema first (as a deployment prepares them), so the two instances can start at once: their
      // start-up scheduler ticks race for the same due days.
      const prep = await Promise.all([runCli(['keys', 'init'], env), runCli(['db', 'migrate'], env)]);
      for (const r of prep) expect(r.code, r.stderr + r.stdout).toBe(0);
      fleet = await startInstances({ count: 2, env });
      startupOutput = fleet.instances.map((i) => i.output);
    }, 180_000);

    afterAll(async () => {
      await fleet?.stop();
      await sim.close();
      await prepared?.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    });

    /** The fleet, or the case is skipped (visibly) when this backend could not start. */
    const up = (t: TestContext): Instances => {
      if (skipReason || !fleet) return t.skip(skipReason ?? 'the instances did not start');
      return fleet;
    };

    /** Days each instance's start-up (and any later) scheduler tick planned, from its "daily runs planned" lines. */
    const plannedDays = (outputs: string[][]) =>
      outputs.map((output) =>
        output
          .join('')
          .split('\n')
          .filter((line) => line.includes('daily runs planned'))
          .flatMap((line) => (JSON.parse(line) as { days: string[] }).days.map(String)),
      );

    it('the daily duties are planned once per day, whichever instances are up', { timeout: 120_000 }, async (t) => {
      const f = up(t);
      // Both start-up ticks plan the week of due days (catch-up); the claim row decides which instance plans each.
      const summaries = async () =>
        Promise.all(
          [0, 1].map(async (i) => {
            const s = await adminCall(f.url(i), 'GET', '/summary', { from: '198.18.0.1' });
            expect(s.status, s.text).toBe(200);
            return s.json.nextDailyDuty as { day: string; lastPlanned: { day: string } | null };
          }),
        );
      const yesterday = new Date(Date.now() - 5 * 60_000 - DAY).toISOString().slice(0, 10);
      await within(30_000, 'yesterday planned', async () =>
        (await summaries()).every((d) => d.lastPlanned?.day === yesterday),
      );
      const first = plannedDays(startupOutput);
      const days = first.flat().sort();
      expect(days, `planned by instance 0: ${first[0]}; by instance 1: ${first[1]}`).toHaveLength(7);
      expect(new Set(days).size).toBe(7);
      expect(days.at(-1)).toBe(yesterday);
      process.stderr.write(
        `${backend.name}: days planned by instance 0: [${first[0]}], by instance 1: [${first[1]}]\n`,
      );

      // Both instances restart at once: their start-up ticks race again, and plan nothing.
      const outputs = [...startupOutput];
      await Promise.all([f.kill(0, 'SIGTERM'), f.kill(1, 'SIGTERM')]);
      const restarted = await Promise.all([f.restart(0), f.restart(1)]);
      outputs.push(...restarted.map((i) => i.output));
      // The start-up tick runs once the server listens (so /readyz may answer before it is done), and the server
      // prints its "listening on" lines once the tick has run (startServer awaits it; main.ts prints after): from
      // those lines on, the tick's writes are committed. Its log lines go through pino's asynchronous stream and may
      // still trail the console line, so the database is the check that the ticks planned nothing; the log check
      // below can only miss a line, never invent one.
      await within(30_000, 'the restarted instances printed their start-up lines', async () =>
        restarted.every((i) => i.output.join('').includes('Licensor server listening on')),
      );
      for (const d of await summaries()) expect(d.lastPlanned?.day).toBe(yesterday);
      expect(plannedDays(outputs).flat().sort()).toEqual(days);
    });

    it('seat limit under concurrency: 30 activations of a 3-seat code over two instances → exactly 3', {
      timeout: 120_000,
    }, async (t) => {
      const f = up(t);
      const koo = new Marketplace(f.url(0));
      const orderId = `SEAT-${uid()}`;
      const order = await koo.get({
        activity: 'getLicense',
        businessId: 'b',
        customerId: 'c',
        orderId,
        productId: 'P1',
        amount: '3',
      });
      expect(order.json.resultCode, order.text).toBe('000000');
      const license = String(order.json.license);
      const entitlementId = String(order.json.instanceId);

      const devices = Array.from({ length: 30 }, (_, i) => new Device(`seat-${orderId}-${i}`));
      const urls = devices.map(() => f.next());
      const answers = await all(30, (i) => devices[i]!.activate(urls[i]!, license));
      expect(tally(answers, (a) => (a.status === 200 ? '200' : errCode(a)))).toEqual({
        '200': 3,
        TOO_MANY_DEVICES: 27,
      });
      const won = answers.filter((a) => a.status === 200).map((a) => String(a.json.activationId));

      // Every instance's admin listing names the same three devices on three different seats.
      for (const i of [0, 1]) {
        const list = await adminCall(f.url(i), 'GET', `/activations?entitlementId=${entitlementId}&status=active`, {
          from: '198.18.0.2',
        });
        expect(list.status, list.text).toBe(200);
        const items = list.json.items as { id: string; seat: number }[];
        expect(items.map((a) => a.id).sort()).toEqual([...won].sort());
        expect(items.map((a) => a.seat).sort()).toEqual([0, 1, 2]);
      }
    });

    it('marketplace idempotency: one new-instance order delivered 20 times at once to both → one instance, one license', {
      timeout: 120_000,
    }, async (t) => {
      const f = up(t);
      const orderId = `NI-${uid()}`;
      const orderLineId = `${orderId}-L1`;
      sim.addOrder({ orderId, orderLineId, linearValue: 2, expireTime: compactTime(new Date(Date.now() + 90 * DAY)) });
      const body = { activity: 'newInstance', orderId, orderLineId, businessId: 'b' };
      const answers = await all(20, (i) => new Marketplace(f.url(i % 2)).post(body));
      const codes = tally(answers, (a) => String(a.json.resultCode));
      // 000004 ("retry later") is an allowed answer while the order is provisioned; never a second instance.
      expect(
        Object.keys(codes).every((c) => c === '000000' || c === '000004'),
        JSON.stringify(codes),
      ).toBe(true);
      // Every answer, "retry later" included, names the instance: one for all 20.
      const ids = new Set(answers.map((a) => a.json.instanceId));
      expect(
        [...ids].every((id) => typeof id === 'string' && id.length > 0),
        JSON.stringify([...ids]),
      ).toBe(true);
      expect(ids.size).toBe(1);
      const instanceId = String([...ids][0]);

      // Provisioned once, and both instances list the one license for the order (family C: the instance is the
      // license; its files are issued per device by getLicenseAsync).
      for (const i of [0, 1]) {
        await within(30_000, `instance ${i} lists the provisioned license`, async () => {
          const list = await adminCall(f.url(i), 'GET', `/entitlements?q=${orderId}`, { from: '198.18.0.3' });
          expect(list.status, list.text).toBe(200);
          const items = list.json.items as { id: string; status: string; orderId: string; seats: number }[];
          expect(items.map((e) => [e.id, e.orderId])).toEqual([[instanceId, orderId]]);
          return items[0]!.status === 'active' && items[0]!.seats === 2;
        });
      }
      // One provisioning job for the order (the dedupe key is per instance id), whichever instance lists it.
      const outbox = await adminCall(
        f.url(1),
        'GET',
        '/outbox?kind=order.provision&status=pending,running,failed,done&limit=200',
        { from: '198.18.0.3' },
      );
      expect(outbox.status, outbox.text).toBe(200);
      const jobs = (outbox.json.items as { dedupeKey: string | null }[]).filter((o) =>
        String(o.dedupeKey).startsWith(`provision:${instanceId}`),
      );
      expect(jobs, JSON.stringify(jobs)).toHaveLength(1);
      // A later delivery to either instance answers with the same instance.
      for (const i of [0, 1]) {
        const again = await new Marketplace(f.url(i)).post(body);
        expect(again.json, again.text).toMatchObject({ resultCode: '000000', instanceId });
      }
    });

    it('nonce replay is refused whichever instance saw the first request', { timeout: 120_000 }, async (t) => {
      const f = up(t);
      // A device's signed check-in (client API nonce): first to one instance, the same bytes to the other.
      const order = await new Marketplace(f.url(0)).get({
        activity: 'getLicense',
        businessId: 'b',
        customerId: 'c',
        orderId: `NONCE-${uid()}`,
        productId: 'P1',
        amount: '1',
      });
      const device = new Device(`nonce-${uid()}`);
      const act = await device.activate(f.url(1), String(order.json.license));
      expect(act.status, act.text).toBe(200);
      const id = String(act.json.activationId);
      const path = `/api/v1/activations/${id}/check-in`;
      const body = '{}';
      const signedOnce = () => {
        const header = signDeviceRequest({
          activationId: id,
          method: 'POST',
          path,
          body,
          privateKey: device.privateKey,
        });
        return (base: string) =>
          call(`${base}${path}`, {
            method: 'POST',
            headers: { [DEVICE_SIGNATURE_HEADER]: header, 'content-type': 'application/json' },
            body,
          });
      };
      for (const [first, second] of [
        [0, 1],
        [1, 0],
      ] as const) {
        const send = signedOnce();
        const a = await send(f.url(first));
        expect(a.status, a.text).toBe(200);
        const b = await send(f.url(second));
        expect([b.status, errCode(b)], b.text).toEqual([401, 'REPLAYED']);
      }
      // The same signed request 10 times at once, split over both: one is served.
      const send = signedOnce();
      const burst = await all(10, (i) => send(f.url(i % 2)));
      expect(tally(burst, (a) => (a.status === 200 ? '200' : errCode(a)))).toEqual({ '200': 1, REPLAYED: 9 });

      // A marketplace (scheme B) request replayed with its nonce to the other instance: refused, applied once.
      for (const [first, second] of [
        [0, 1],
        [1, 0],
      ] as const) {
        const code = `PLNONCE${uid()}`;
        const reg = await adminCall(f.url(0), 'POST', '/codes', {
          body: { code, productId: 'P1', seats: 1 },
          from: '198.18.0.4',
        });
        expect(reg.status, reg.text).toBe(201);
        const raw = JSON.stringify({ activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' });
        const url = new Marketplace(f.url(first)).postUrl(raw);
        const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw };
        const a = await call(url, init);
        expect(a.json.resultCode, a.text).toBe('000000');
        const b = await call(url.replace(f.url(first), f.url(second)), init);
        expect(b.json.resultCode, b.text).toBe('000001');
        expect(String(b.json.resultMsg)).toMatch(/nonce already used/);
        const audit = await adminCall(f.url(second), 'GET', `/audit?entitlementId=${code}`, { from: '198.18.0.4' });
        const frozen = (audit.json.items as { action: string }[]).filter((e) => e.action === 'entitlement.frozen');
        expect(frozen).toHaveLength(1);
      }

      // Scheme A (family A GETs) carries no nonce: a replayed authToken gets the first answer, byte for byte and with
      // its Body-Sign, from the other instance too, and changes nothing.
      const orderId = `NONCE-A-${uid()}`;
      const url = new Marketplace(f.url(0)).getUrl({
        activity: 'getLicense',
        businessId: 'b',
        customerId: 'c',
        orderId,
        productId: 'P1',
        amount: '1',
      });
      const firstA = await call(url);
      expect(firstA.json.resultCode, firstA.text).toBe('000000');
      const replayA = await call(url.replace(f.url(0), f.url(1)));
      expect([replayA.text, replayA.headers.get('body-sign')]).toEqual([firstA.text, firstA.headers.get('body-sign')]);
      const list = await adminCall(f.url(1), 'GET', `/entitlements?q=${orderId}`, { from: '198.18.0.4' });
      expect((list.json.items as unknown[]).length).toBe(1);
    });

    it(backend.sharedRateLimits === true
      ? 'rate limits: failed admin authentications over two instances reach the 429 at the one-instance total'
      : 'rate limits: failed admin authentications are counted per process (documented difference)', {
      timeout: 120_000,
    }, async (t) => {
      const f = up(t);
      // A fresh address: its window (60 s) starts at its first failure, on both stores (express-rate-limit's memory
      // store; db/postgres/rateLimitStore.ts, per client, not aligned to the clock), so no wait for a new minute.
      const from = newAddress();
      const statuses: number[] = [];
      let limitedAt = 0;
      for (let n = 1; n <= 4 * AUTH_LIMIT && !limitedAt; n++) {
        const r = await adminCall(f.url(n % 2), 'GET', '/summary', { token: `wrong-${n}`, from });
        statuses.push(r.status);
        if (r.status === 429) limitedAt = n;
        else expect(r.status, r.text).toBe(401);
      }
      const shared = backend.sharedRateLimits === true;
      // Documented expected difference where counts are per process: each instance refuses after its own limit.
      const expected = shared ? AUTH_LIMIT + 1 : 2 * AUTH_LIMIT + 1;
      if (!shared) {
        const note =
          `${backend.name}: the admin failure limit is per process here (429 at failure ${limitedAt}, ` +
          `not ${AUTH_LIMIT + 1}): ${(backend.sharedRateLimits as { no: string }).no}`;
        process.stderr.write(`\n⚠  ${note}\n\n`);
        await t.annotate(note, 'documented difference');
      }
      expect(limitedAt, `statuses: ${statuses}`).toBe(expected);
      // Once limited, the address is refused on every instance, even with the right token. (Where counts are per
      // process this says nothing: the instance that did not answer 429 is then exactly at its own limit too.)
      if (shared) {
        for (const i of [0, 1]) {
          const ok = await adminCall(f.url(i), 'GET', '/summary', { from });
          expect(ok.status, ok.text).toBe(429);
        }
      }
    });

    it(`an admin token and a policy changed through one instance apply on the other within ${PROPAGATION_BOUND_MS} ms`, {
      timeout: 120_000,
    }, async (t) => {
      const f = up(t);
      const from = newAddress();
      const [a, b] = [f.url(0), f.url(1)];

      // A token created through A works on B; revoked through A, B refuses it.
      const created = await adminCall(a, 'POST', '/tokens', { body: { name: 'ci', scope: 'write' }, from });
      expect(created.status, created.text).toBe(201);
      const token = String(created.json.token);
      const tokenId = String(created.json.id);
      await within(PROPAGATION_BOUND_MS, 'a new token accepted by B', async () => {
        return (await adminCall(b, 'GET', '/summary', { token, from })).status === 200;
      });
      const revoked = await adminCall(a, 'DELETE', `/tokens/${tokenId}`, { from });
      expect(revoked.status, revoked.text).toBe(200);
      const tookRevoke = await within(PROPAGATION_BOUND_MS, 'a revoked token refused by B', async () => {
        const r = await adminCall(b, 'GET', '/summary', { token, from });
        if (r.status === 200) return false;
        expect([r.status, errCode(r)], r.text).toEqual([401, 'UNAUTHORIZED']);
        return true;
      });

      // A license with 50 seats, one taken through B; A lowers maxDevices to 1: B refuses a second device. (So many
      // seats that a probe admitted before the change arrives cannot fill them: a refusal is the policy's.)
      const order = await new Marketplace(a).get({
        activity: 'getLicense',
        businessId: 'b',
        customerId: 'c',
        orderId: `POL-${uid()}`,
        productId: 'P1',
        amount: '50',
      });
      const license = String(order.json.license);
      const entitlementId = String(order.json.instanceId);
      const first = await new Device(`pol-1-${uid()}`).activate(b, license);
      expect(first.status, first.text).toBe(200);
      const set = await adminCall(a, 'PUT', `/entitlements/${entitlementId}/policy`, {
        body: { policy: { maxDevices: 1 } },
        from,
      });
      expect(set.status, set.text).toBe(200);
      const tookPolicy = await within(PROPAGATION_BOUND_MS, 'maxDevices=1 applied by B', async () => {
        const r = await new Device(`pol-x-${uid()}`).activate(b, license);
        if (r.status === 200) return false;
        expect(errCode(r), r.text).toBe('TOO_MANY_DEVICES');
        return true;
      });
      // Back to the order's seats (overrides removed through B this time): A admits a second device.
      const cleared = await adminCall(b, 'PUT', `/entitlements/${entitlementId}/policy`, {
        body: { policy: null },
        from,
      });
      expect(cleared.status, cleared.text).toBe(200);
      await within(PROPAGATION_BOUND_MS, 'overrides removed, seen by A', async () => {
        return (await new Device(`pol-2-${uid()}`).activate(a, license)).status === 200;
      });
      process.stderr.write(
        `${backend.name}: revocation seen by the other instance after ${tookRevoke} ms, policy after ${tookPolicy} ms\n`,
      );
    });

    it('outbox: every queued upload runs exactly once, whichever instance queued it and whichever worker claims it', {
      timeout: 120_000,
    }, async (t) => {
      const f = up(t);
      const orderId = `OBX-${uid()}`;
      sim.addOrder({
        orderId,
        orderLineId: `${orderId}-L1`,
        linearValue: 20,
        expireTime: compactTime(new Date(Date.now() + 90 * DAY)),
      });
      const inst = await new Marketplace(f.url(0)).post({
        activity: 'newInstance',
        orderId,
        orderLineId: `${orderId}-L1`,
        businessId: 'b',
      });
      expect(['000000', '000004'], inst.text).toContain(inst.json.resultCode);
      const instanceId = String(inst.json.instanceId);
      await within(30_000, 'the instance provisioned', async () => {
        const r = await adminCall(f.url(1), 'GET', `/entitlements/${instanceId}`, { from: '198.18.0.5' });
        return (r.json.entitlement as { status?: string } | undefined)?.status === 'active';
      });

      // 12 License requests, each delivered to both instances at once: every delivery queues an upload (a retry
      // means the marketplace did not get the file), answered inline or by a worker of either instance.
      const events = Array.from({ length: 12 }, (_, i) => `EV-${orderId}-${i}`);
      const spaced = (d: Date) => `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
      const request = (i: number) => ({
        activity: 'getLicenseAsync',
        instanceId,
        eventId: events[i],
        effectiveTime: spaced(new Date()),
        expireTime: spaced(new Date(Date.now() + 60 * DAY)),
        deviceFingerprint: `00:16:3e:00:01:${i.toString(16).padStart(2, '0')}|D${i}|B${i}|C${i}`,
      });
      const answers = await all(24, (n) => new Marketplace(f.url(n % 2)).post(request(n >> 1)));
      const codes = tally(answers, (a) => String(a.json.resultCode));
      expect(
        Object.keys(codes).every((c) => c === '000000' || c === '000004'),
        JSON.stringify(codes),
      ).toBe(true);

      type Item = {
        id: number;
        status: string;
        attempts: number;
        lastError: string | null;
        payload: { eventId?: string } | null;
      };
      const ours = async (): Promise<Item[]> => {
        const r = await adminCall(
          f.url(0),
          'GET',
          '/outbox?kind=license.upload&status=pending,running,failed,done&limit=200',
          { from: '198.18.0.5' },
        );
        expect(r.status, r.text).toBe(200);
        return (r.json.items as Item[]).filter((o) => events.includes(String(o.payload?.eventId)));
      };
      await within(30_000, 'every upload done', async () => {
        const items = await ours();
        return items.length === 24 && items.every((o) => o.status === 'done');
      });
      const items = await ours();
      // Each item claimed once (one attempt; a lastError here would be a real failure, retried) and each upload
      // received once by the marketplace: 24 items, 24 files.
      expect(items.filter((o) => o.attempts !== 1)).toEqual([]);
      for (const ev of events) {
        expect(sim.uploadsFor(ev), ev).toHaveLength(items.filter((o) => o.payload?.eventId === ev).length);
      }
      expect(events.flatMap((ev) => sim.uploadsFor(ev))).toHaveLength(24);
      // One License per (event, device): every upload of an event carries the same file.
      for (const ev of events) expect(new Set(sim.uploadsFor(ev).map((u) => u.sha256)).size).toBe(1);
    });

    // Last: where rotation needs a restart, this case restarts an instance.
    it(backend.liveKeyRotation === true
      ? `a signing key rotated on one host signs on every instance within ${PROPAGATION_BOUND_MS} ms, no restart`
      : 'a signing key rotated on one host signs on an instance once it restarts (documented difference)', {
      timeout: 120_000,
    }, async (t) => {
      const f = up(t);
      const current = async (i: number) => {
        const r = await call(`${f.url(i)}/api/v1/keys`);
        expect(r.status, r.text).toBe(200);
        return String(r.json.current);
      };
      /** The key that signed a License file the instance issues now (a new device, so a new file). */
      const signsWith = async (i: number, license: string) => {
        const act = await new Device(`kid-${uid()}`).activate(f.url(i), license);
        expect(act.status, act.text).toBe(200);
        return decodeLicenseFile(String(act.json.license)).envelope.kid;
      };
      const order = await new Marketplace(f.url(0)).get({
        activity: 'getLicense',
        businessId: 'b',
        customerId: 'c',
        orderId: `KEY-${uid()}`,
        productId: 'P1',
        amount: '20',
      });
      const license = String(order.json.license);
      const old = await current(0);
      expect(await current(1)).toBe(old);
      expect(await signsWith(1, license)).toBe(old);

      // The operator rotates with the CLI, as on one of the hosts (the root key is the development one here).
      const rotated = await runCli(['--json', 'keys', 'rotate'], env);
      expect(rotated.code, rotated.stderr + rotated.stdout).toBe(0);
      const fresh = String(rotated.json().rotated.keyId);
      expect(fresh).not.toBe(old);

      if (backend.liveKeyRotation === true) {
        for (const i of [0, 1]) {
          await within(PROPAGATION_BOUND_MS, `instance ${i} signs with the rotated key`, async () => {
            return (await current(i)) === fresh && (await signsWith(i, license)) === fresh;
          });
        }
        return;
      }
      // Documented expected difference: each process signs with the key it loaded until it restarts.
      const note = `${backend.name}: a rotated signing key needs a restart of each instance: ${backend.liveKeyRotation.no}`;
      process.stderr.write(`\n⚠  ${note}\n\n`);
      await t.annotate(note, 'documented difference');
      await sleep(PROPAGATION_BOUND_MS);
      for (const i of [0, 1]) {
        expect(await current(i)).toBe(old);
        expect(await signsWith(i, license)).toBe(old);
      }
      await f.kill(1, 'SIGTERM');
      await f.restart(1);
      expect(await current(1)).toBe(fresh);
      expect(await signsWith(1, license)).toBe(fresh);
      expect(await current(0)).toBe(old);
    });
  });
}
