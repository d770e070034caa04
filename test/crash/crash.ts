import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openSqliteDatabase } from '@licensor/server';
import { formatKooGalleryFingerprint, LicenseVerifier, parseKooGalleryFingerprint } from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import {
  ADMIN_TOKEN,
  AK,
  type Answer,
  admin,
  compactTime,
  Device,
  freePort,
  Marketplace,
  type ServerProcess,
  SK,
  serverEnv,
  sleep,
  spacedTime,
  spawnServer,
  Unanswered,
} from './harness';

/**
 * Crash test: the real server in a child process under a mixed load of signed marketplace calls, operator
 * calls and device activations/check-ins, killed with SIGKILL at random moments and restarted on the same data
 * folder. Callers behave like the real ones: an unanswered request is sent again (fresh nonce) until it gets an
 * answer. At the end every acknowledged request must be in the database exactly once, seat limits must hold,
 * outbox work (order provisioning, License uploads) must have been delivered after the restarts, and SQLite
 * must pass `PRAGMA integrity_check`.
 *
 *   full form:  npx tsx test/crash/crash.ts --kills 20      (CI form: test/crash.e2e.test.ts, 3 kills)
 */

/** One request's fate, for deployments that judge answers by when and where they came (see pgCrash.ts). */
export interface Observation {
  op: string;
  base: string;
  sentAt: number;
  answeredAt: number;
  /** undefined: no answer (connection refused or reset). */
  answer?: Answer;
}

/** What the checks read: the database the servers wrote, whichever backend. */
export interface CheckDb {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  first<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
}

/**
 * The servers under test and how they are disrupted. The default is one process on SQLite, killed and restarted
 * (callers wait for it); pgCrash.ts runs two on PostgreSQL behind a round-robin and also restarts PostgreSQL.
 */
export interface CrashDeployment {
  /** Where the next request goes. */
  base(): string;
  /** Called after a request got no answer, before it is sent again. */
  afterUnanswered(): Promise<void>;
  /** Disruption number `kill` (from 0) of `total`: kill, restart; returns a line for the log. */
  disrupt(kill: number, total: number): Promise<string>;
  observe?(o: Observation): void;
  /** A running server whose /healthz reports the outbox depth, after the load. */
  healthBase(): string;
  /** Stops the servers (after the drain). */
  stop(): Promise<void>;
  /** The database for the checks, and SQLite's integrity_check where there is one. */
  openForChecks(): Promise<{ db: CheckDb; integrity?: string[]; close(): Promise<void> }>;
  /** Everything the servers printed. */
  output(): string;
  /** The root certificate to verify the License files served (checked when given). */
  rootCertificatePem?: string;
  /** Where the data is (kept when a check fails). */
  dataDir: string;
  /** Removes what it made; `keep` leaves the data for inspection. */
  cleanup(keep: boolean): Promise<void>;
}

export interface CrashOptions {
  kills: number;
  /** The servers under test (default: one process on SQLite in a temporary data folder). */
  deployment?: (simUrl: string) => Promise<CrashDeployment>;
  /** Concurrent callers. */
  workers?: number;
  /** Load between a restart and the next kill, ms (uniform in [min, max]). */
  upMs?: [number, number];
  /**
   * Each up period also lasts until this many more requests were acknowledged (at most 20 s more): on a machine
   * busy with other work a restarted server may answer little within upMs, and the test needs acknowledged
   * requests to check. Default 0 (upMs alone).
   */
  minAcknowledgedPerUp?: number;
  /** How long to wait for the outbox to deliver everything after the last restart (≥ the 60 s lease). */
  drainTimeoutMs?: number;
  log?: (line: string) => void;
  /** Keep the data folder for inspection (it is always kept when a check fails). */
  keepData?: boolean;
}

export interface CrashReport {
  kills: number;
  requests: number;
  unanswered: number;
  acknowledged: number;
  refused: number;
  checked: number;
  failures: string[];
  byOperation: Record<string, number>;
  drainMs: number;
  durationMs: number;
  integrity: string[];
  /** License files served (activations, check-ins) and verified against the root, when the deployment names it. */
  licensesVerified: number;
  dataDir: string;
}

interface AckedOrder {
  orderId: string;
  instanceId: string;
  license: string;
  seats: number;
}
interface AckedInstance {
  orderId: string;
  orderLineId: string;
  instanceId: string;
  fingerprints: string[];
  /** Answered 000000 (provisioned inline); 000004 means accepted, provisioning continues in the outbox. */
  provisioned: boolean;
}
interface AckedLicenseRequest {
  instanceId: string;
  eventId: string;
  fingerprint: string;
}
interface AckedActivation {
  activationId: string;
  device: Device;
  entitlementCode: string;
  lastCheckInSentAt?: string;
}

const DAY = 86_400_000;
const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];
const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const normalizeFp = (fp: string) => formatKooGalleryFingerprint(parseKooGalleryFingerprint(fp));

export async function runCrashTest(opts: CrashOptions): Promise<CrashReport> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const workers = opts.workers ?? 12;
  const [minUp, maxUp] = opts.upMs ?? [400, 1500];
  const minAcknowledged = opts.minAcknowledgedPerUp ?? 0;
  const failures: string[] = [];
  const fail = (msg: string) => {
    if (failures.length < 200) failures.push(msg);
  };

  const sim = new MarketplaceSimulator(AK, SK);
  const simUrl = await sim.listen();
  const deployment = await (opts.deployment ?? sqliteDeployment)(simUrl);
  const dataDir = deployment.dataDir;
  const koo = (base: string) => new Marketplace(base);
  const served: string[] = [];
  const serve = (a: Answer) => {
    if (typeof a.json.license === 'string' && served.length < 400) served.push(a.json.license);
  };

  const stats = { requests: 0, unanswered: 0, acknowledged: 0, refused: 0 };
  const byOperation: Record<string, number> = {};
  const ordersA: AckedOrder[] = [];
  const renewals: { instanceId: string; orderId: string }[] = [];
  const instances: AckedInstance[] = [];
  const licenseRequests: AckedLicenseRequest[] = [];
  const codes = new Map<string, { status: 'active' | 'frozen'; renewals: string[] }>();
  const activations = new Map<string, AckedActivation>(); // by device name
  const devices = new Map<string, Device>();
  const busy = new Set<string>();
  let n = 0;
  const next = () => ++n;

  /** Sends (to the deployment's next server each time) until an answer other than "not applied, retry". */
  async function until(
    op: string,
    send: (base: string) => Promise<Answer>,
    retry: (a: Answer) => boolean,
    retryDelayMs = 50,
  ): Promise<Answer> {
    for (let attempt = 0; attempt < 400; attempt++) {
      stats.requests++;
      const base = deployment.base();
      const sentAt = Date.now();
      try {
        const a = await send(base);
        deployment.observe?.({ op, base, sentAt, answeredAt: Date.now(), answer: a });
        if (a.status >= 500 && a.status !== 503) fail(`${op}: HTTP ${a.status} ${a.text.slice(0, 200)}`);
        if (!retry(a)) {
          byOperation[op] = (byOperation[op] ?? 0) + 1;
          return a;
        }
        await sleep(retryDelayMs);
      } catch (err) {
        if (!(err instanceof Unanswered)) throw err;
        deployment.observe?.({ op, base, sentAt, answeredAt: Date.now() });
        stats.unanswered++;
        await deployment.afterUnanswered();
      }
    }
    throw new Error(`${op}: no answer after 400 attempts`);
  }
  const kooRetry = (a: Answer) => a.status !== 200 || a.json.resultCode === '000005';
  const apiRetry = (a: Answer) => a.status === 503 || a.status >= 500;

  async function withLock(key: string, fn: () => Promise<void>) {
    if (busy.has(key)) return;
    busy.add(key);
    try {
      await fn();
    } finally {
      busy.delete(key);
    }
  }

  const ops: [number, () => Promise<void>][] = [
    // A purchase (family A): the answer names the instance and the code we minted.
    [
      14,
      async () => {
        const orderId = `CR-A-${next()}`;
        const seats = between(1, 3);
        const params = { activity: 'getLicense', businessId: `biz-${orderId}`, customerId: 'cust', orderId };
        const full = {
          ...params,
          productId: 'P1',
          amount: String(seats),
          expireTime: compactTime(new Date(Date.now() + 365 * DAY)),
        };
        const a = await until('getLicense', (b) => koo(b).get(full), kooRetry);
        if (a.json.resultCode !== '000000') return fail(`getLicense ${orderId}: ${a.text}`);
        stats.acknowledged++;
        ordersA.push({ orderId, instanceId: String(a.json.instanceId), license: String(a.json.license), seats });
      },
    ],
    // The marketplace retries a purchase it already got an answer for: the same answer, across restarts.
    [
      6,
      async () => {
        const o = pick(ordersA);
        if (!o) return;
        const params = {
          activity: 'getLicense',
          businessId: `biz-${o.orderId}`,
          customerId: 'cust',
          orderId: o.orderId,
        };
        const a = await until(
          'getLicense (retry)',
          (b) => koo(b).get({ ...params, productId: 'P1', amount: String(o.seats) }),
          kooRetry,
        );
        if (a.json.instanceId !== o.instanceId || a.json.license !== o.license) {
          fail(`getLicense retry ${o.orderId}: answered ${a.text}, first answer was ${o.instanceId}/${o.license}`);
        }
      },
    ],
    [
      7,
      async () => {
        const o = pick(ordersA);
        if (!o) return;
        const orderId = `CR-R-${next()}`;
        const p = {
          activity: 'refreshLicense',
          orderId,
          instanceId: o.instanceId,
          expireTime: compactTime(new Date(Date.now() + 400 * DAY)),
        };
        const a = await until('refreshLicense', (b) => koo(b).get(p), kooRetry);
        if (a.json.resultCode !== '000000') return fail(`refreshLicense ${orderId}: ${a.text}`);
        stats.acknowledged++;
        renewals.push({ instanceId: o.instanceId, orderId });
      },
    ],
    // Family C: the order is registered at the (simulated) marketplace, provisioned through the outbox.
    [
      7,
      async () => {
        const orderId = `CR-C-${next()}`;
        const orderLineId = `${orderId}-L1`;
        sim.addOrder({
          orderId,
          orderLineId,
          linearValue: 2,
          expireTime: compactTime(new Date(Date.now() + 200 * DAY)),
        });
        const body = { activity: 'newInstance', orderId, orderLineId, businessId: `biz-${orderId}` };
        const a = await until('newInstance', (b) => koo(b).post(body), kooRetry);
        const code = a.json.resultCode;
        if ((code !== '000000' && code !== '000004') || typeof a.json.instanceId !== 'string') {
          return fail(`newInstance ${orderId}: ${a.text}`);
        }
        stats.acknowledged++;
        instances.push({
          orderId,
          orderLineId,
          instanceId: a.json.instanceId,
          provisioned: code === '000000',
          fingerprints: [1, 2, 3].map(
            (i) =>
              `00:16:3e:${(n % 256).toString(16).padStart(2, '0')}:00:0${i}|DISK-${orderId}-${i}|BOARD-${i}|CPU-${i}`,
          ),
        });
      },
    ],
    [
      4,
      async () => {
        const c = pick(instances);
        if (!c) return;
        const body = {
          activity: 'newInstance',
          orderId: c.orderId,
          orderLineId: c.orderLineId,
          businessId: `biz-${c.orderId}`,
        };
        const a = await until('newInstance (retry)', (b) => koo(b).post(body), kooRetry);
        if (a.json.instanceId !== c.instanceId)
          fail(`newInstance retry ${c.orderId}: ${a.text}, first ${c.instanceId}`);
        if (a.json.resultCode === '000000') c.provisioned = true;
      },
    ],
    // A License file for a device, uploaded back to the marketplace (inline or through the outbox).
    [
      8,
      async () => {
        // Instances still provisioning answer "retry later" (see notYet) until their order is applied.
        const c = pick(instances.filter((i) => i.provisioned));
        if (!c) return;
        const fingerprint = pick(c.fingerprints)!;
        const eventId = `EV-${next()}`;
        const body = {
          activity: 'getLicenseAsync',
          instanceId: c.instanceId,
          eventId,
          effectiveTime: spacedTime(new Date()),
          expireTime: spacedTime(new Date(Date.now() + 100 * DAY)),
          deviceFingerprint: fingerprint,
        };
        // "Still being provisioned" wrote nothing: the marketplace asks again later. A provisioning claim held by
        // a killed process only expires with its outbox lease (60 s), so this can take a minute after a crash.
        const notYet = (a: Answer) => a.json.resultCode === '000004' && /provision/i.test(String(a.json.resultMsg));
        const a = await until(
          'getLicenseAsync',
          (b) => koo(b).post(body),
          (x) => kooRetry(x) || notYet(x),
          500,
        );
        if (a.json.resultCode === '000900') {
          stats.refused++;
          return;
        }
        if (a.json.resultCode !== '000000' && a.json.resultCode !== '000004') {
          return fail(`getLicenseAsync ${eventId}: ${a.text}`);
        }
        stats.acknowledged++;
        licenseRequests.push({ instanceId: c.instanceId, eventId, fingerprint: normalizeFp(fingerprint) });
      },
    ],
    // Operators register license-code 2.0 codes; the marketplace freezes, unfreezes and renews them.
    [
      5,
      async () => {
        const code = `PLCRASH${String(next()).padStart(8, '0')}`;
        const a = await until(
          'register code',
          (b) => admin(b, 'POST', '/codes', { code, productId: 'P1', seats: 2 }),
          apiRetry,
        );
        if (a.status !== 201 && a.status !== 200) return fail(`register ${code}: ${a.status} ${a.text}`);
        stats.acknowledged++;
        codes.set(code, { status: 'active', renewals: [] });
      },
    ],
    [
      7,
      async () => {
        const code = pick([...codes.keys()]);
        if (!code) return;
        await withLock(`code:${code}`, async () => {
          const status = Math.random() < 0.5 ? 'FREEZE' : 'UNFREEZE';
          const a = await until(
            'updateLicenseCodeStatus',
            (b) => koo(b).post({ activity: 'updateLicenseCodeStatus', license: code, status }),
            kooRetry,
          );
          if (a.json.resultCode !== '000000') return fail(`updateLicenseCodeStatus ${code}: ${a.text}`);
          stats.acknowledged++;
          codes.get(code)!.status = status === 'FREEZE' ? 'frozen' : 'active';
        });
      },
    ],
    [
      4,
      async () => {
        const code = pick([...codes.keys()]);
        if (!code) return;
        await withLock(`code:${code}`, async () => {
          const orderId = `CR-B-${next()}`;
          const body = {
            activity: 'refreshLicenseCode',
            license: code,
            scene: 'RENEWAL',
            orderId,
            orderLineId: `${orderId}-L1`,
            expireTime: compactTime(new Date(Date.now() + 500 * DAY)),
          };
          const a = await until('refreshLicenseCode', (b) => koo(b).post(body), kooRetry);
          if (a.json.resultCode !== '000000') return fail(`refreshLicenseCode ${code}: ${a.text}`);
          stats.acknowledged++;
          codes.get(code)!.renewals.push(orderId);
        });
      },
    ],
    // End users activate: one device more than there are seats, so refusals happen under load too.
    [
      18,
      async () => {
        const marketplaceCode = Math.random() < 0.15;
        let code: string;
        let deviceName: string;
        if (marketplaceCode) {
          // A license-code 2.0 code the server learns from the marketplace on first activation.
          const c = sim.addCode({ code: `PLSIM${String(next()).padStart(10, '0')}`, amount: 2 });
          code = c.code;
          deviceName = `${code}-d0`;
        } else {
          const o = pick(ordersA);
          if (!o) return;
          code = o.license;
          deviceName = `${o.orderId}-d${between(0, o.seats)}`;
        }
        await withLock(`device:${deviceName}`, async () => {
          let device = devices.get(deviceName);
          if (!device) {
            device = new Device(deviceName);
            devices.set(deviceName, device);
          }
          const d = device;
          const a = await until('activate', (b) => d.activate(b, code), apiRetry);
          if (a.status === 409 && (a.json.error as { code?: string })?.code === 'TOO_MANY_DEVICES') {
            stats.refused++;
            return;
          }
          if (a.status !== 200) return fail(`activate ${deviceName}: ${a.status} ${a.text.slice(0, 300)}`);
          stats.acknowledged++;
          serve(a);
          const id = String(a.json.activationId);
          const before = activations.get(deviceName);
          if (before && before.activationId !== id) {
            fail(`re-activation of ${deviceName} made a new activation ${id} (was ${before.activationId})`);
          }
          activations.set(deviceName, { activationId: id, device: d, entitlementCode: code, ...before });
        });
      },
    ],
    [
      14,
      async () => {
        const act = pick([...activations.values()]);
        if (!act) return;
        await withLock(`device:${act.device.name}`, async () => {
          const sentAt = new Date().toISOString();
          const a = await until('check-in', (b) => act.device.checkIn(b, act.activationId), apiRetry);
          if (a.status !== 200 || a.json.status !== 'VALID') {
            return fail(`check-in ${act.activationId}: ${a.status} ${a.text.slice(0, 300)}`);
          }
          stats.acknowledged++;
          serve(a);
          act.lastCheckInSentAt = sentAt;
        });
      },
    ],
  ];
  const totalWeight = ops.reduce((s, [w]) => s + w, 0);
  const chooseOp = () => {
    let r = Math.random() * totalWeight;
    for (const [w, op] of ops) {
      r -= w;
      if (r < 0) return op;
    }
    return ops[0]![1];
  };

  let stopping = false;
  const running = Array.from({ length: workers }, async () => {
    while (!stopping) {
      try {
        await chooseOp()();
      } catch (err) {
        fail(`worker: ${(err as Error).stack ?? err}`);
        await sleep(100);
      }
    }
  });

  const upPeriod = async () => {
    const from = stats.acknowledged;
    await sleep(between(minUp, maxUp));
    const deadline = Date.now() + 20_000;
    while (stats.acknowledged - from < minAcknowledged && Date.now() < deadline) await sleep(50);
  };
  let kills = 0;
  for (let k = 0; k < opts.kills; k++) {
    await upPeriod();
    let what: string;
    try {
      what = await deployment.disrupt(k, opts.kills);
    } catch (err) {
      fail(`disruption ${k + 1}: ${(err as Error).message.slice(0, 2000)}`);
      break;
    }
    kills++;
    log(
      `kill ${kills}/${opts.kills}: ${what}; ${stats.acknowledged} acknowledged so far, ${stats.unanswered} unanswered`,
    );
  }
  await upPeriod();
  stopping = true;
  await Promise.all(running);

  // Outbox work interrupted by a kill is retried; a claim held by a killed process expires after its lease.
  const drainStarted = Date.now();
  const drainDeadline = drainStarted + (opts.drainTimeoutMs ?? 90_000);
  let depth = { pending: -1, running: -1, failed: -1 };
  while (Date.now() < drainDeadline) {
    let h: { outbox: typeof depth };
    try {
      h = (await fetch(`${deployment.healthBase()}/healthz`).then((r) => r.json())) as { outbox: typeof depth };
    } catch (err) {
      fail(`server stopped answering while the outbox drained: ${(err as Error).message}`);
      log(`server output (last 4 KB):\n${deployment.output().slice(-4096)}`);
      break;
    }
    depth = h.outbox;
    if (depth.pending + depth.running === 0) break;
    if ((Date.now() - drainStarted) % 10_000 < 250) log(`waiting for the outbox: ${JSON.stringify(depth)}`);
    await sleep(250);
  }
  const drainMs = Date.now() - drainStarted;
  if (depth.pending + depth.running > 0) fail(`outbox not drained after ${drainMs} ms: ${JSON.stringify(depth)}`);
  if (depth.failed > 0) fail(`outbox has ${depth.failed} failed item(s)`);
  log(`outbox drained in ${drainMs} ms`);

  await deployment.stop();
  await sim.close();

  // ------------------------------------------------------------------------------------------ checks
  const opened = await deployment.openForChecks();
  const { db } = opened;
  let checked = 0;
  const integrity = opened.integrity ?? ['not applicable'];
  if (opened.integrity && integrity.join() !== 'ok') fail(`integrity_check: ${integrity.join('; ')}`);
  const count = async (sql: string, params: unknown[]) => Number((await db.first<{ n: number }>(sql, params))?.n ?? 0);
  const createdOnce = async (entitlementId: string, action: string, column = 'entitlement_id') =>
    (await count(`SELECT COUNT(*) AS n FROM audit_log WHERE ${column} = ? AND action = ?`, [entitlementId, action])) ===
    1;

  for (const o of ordersA) {
    const rows = await db.all<{ id: string; code: string }>(
      `SELECT id, code FROM entitlements WHERE family = 'A' AND order_id = ?`,
      [o.orderId],
    );
    if (rows.length !== 1 || rows[0]!.id !== o.instanceId || rows[0]!.code !== o.license) {
      fail(
        `order ${o.orderId}: ${rows.length} row(s) ${JSON.stringify(rows)}, acknowledged ${o.instanceId}/${o.license}`,
      );
    } else if (!(await createdOnce(o.instanceId, 'entitlement.created')))
      fail(`order ${o.orderId}: audit entry not exactly once`);
    checked++;
  }
  for (const r of renewals) {
    const n = await count(
      `SELECT COUNT(*) AS n FROM entitlement_changes WHERE entitlement_id = ? AND kind = 'renew' AND order_id = ?`,
      [r.instanceId, r.orderId],
    );
    if (n !== 1) fail(`renewal ${r.orderId}: ${n} change rows`);
    checked++;
  }
  for (const c of instances) {
    const rows = await db.all<{ id: string; status: string; seats: number }>(
      `SELECT id, status, seats FROM entitlements WHERE family = 'C' AND order_id = ? AND order_line_id = ?`,
      [c.orderId, c.orderLineId],
    );
    if (rows.length !== 1 || rows[0]!.id !== c.instanceId) fail(`instance ${c.orderId}: ${JSON.stringify(rows)}`);
    else if (rows[0]!.status !== 'active' || rows[0]!.seats !== 2) {
      fail(`instance ${c.orderId}: not provisioned from the order after restarts: ${JSON.stringify(rows[0])}`);
    } else if (!(await createdOnce(c.instanceId, 'entitlement.created')))
      fail(`instance ${c.orderId}: audit not exactly once`);
    checked++;
  }
  const uploadsByEvent = new Map<string, string[]>();
  for (const u of sim.uploads) {
    const list = uploadsByEvent.get(u.eventId) ?? [];
    list.push(createHash('sha256').update(u.content).digest('hex'));
    uploadsByEvent.set(u.eventId, list);
  }
  for (const r of licenseRequests) {
    const rows = await db.all<{ sha256: string; entitlement_id: string }>(
      'SELECT sha256, entitlement_id FROM license_requests WHERE event_id = ? AND fingerprint = ?',
      [r.eventId, r.fingerprint],
    );
    if (rows.length !== 1 || rows[0]!.entitlement_id !== r.instanceId)
      fail(`license request ${r.eventId}: ${JSON.stringify(rows)}`);
    else if (!(uploadsByEvent.get(r.eventId) ?? []).includes(rows[0]!.sha256)) {
      fail(`license request ${r.eventId}: the stored License was never uploaded to the marketplace`);
    }
    checked++;
  }
  for (const e of await db.all<{ entitlement_id: string; devices: number; seats: number }>(
    `SELECT r.entitlement_id, COUNT(DISTINCT r.device_key) AS devices, e.seats FROM license_requests r
       JOIN entitlements e ON e.id = r.entitlement_id GROUP BY r.entitlement_id, e.seats`,
  )) {
    if (Number(e.devices) > Number(e.seats))
      fail(`instance ${e.entitlement_id}: Licenses for ${e.devices} devices, ${e.seats} allowed`);
  }
  for (const [code, c] of codes) {
    const rows = await db.all<{ family: string; status: string; id: string }>(
      'SELECT family, status, id FROM entitlements WHERE code = ?',
      [code],
    );
    if (rows.length !== 1 || rows[0]!.family !== 'B') fail(`code ${code}: ${JSON.stringify(rows)}`);
    else if (rows[0]!.status !== c.status)
      fail(`code ${code}: status ${rows[0]!.status}, last acknowledged change made it ${c.status}`);
    else {
      for (const orderId of c.renewals) {
        if (
          (await count(`SELECT COUNT(*) AS n FROM entitlement_changes WHERE entitlement_id = ? AND order_id = ?`, [
            rows[0]!.id,
            orderId,
          ])) !== 1
        ) {
          fail(`code ${code}: renewal ${orderId} missing`);
        }
        checked++;
      }
    }
    checked++;
  }
  for (const [name, a] of activations) {
    const row = await db.first<{ status: string; device_key_hash: string; last_seen_at: string }>(
      'SELECT status, device_key_hash, last_seen_at FROM activations WHERE id = ?',
      [a.activationId],
    );
    const forDevice = await count('SELECT COUNT(*) AS n FROM activations WHERE device_key_hash = ?', [
      a.device.keyHash,
    ]);
    if (row?.status !== 'active') fail(`activation ${a.activationId} (${name}): ${JSON.stringify(row)}`);
    else if (forDevice !== 1) fail(`device ${name}: ${forDevice} activation rows`);
    else if (!(await createdOnce(a.activationId, 'activation.created', 'activation_id')))
      fail(`activation ${a.activationId}: audit not exactly once`);
    else if (a.lastCheckInSentAt && row.last_seen_at < a.lastCheckInSentAt) {
      fail(
        `activation ${a.activationId}: acknowledged check-in at ${a.lastCheckInSentAt} lost (last seen ${row.last_seen_at})`,
      );
    }
    checked++;
  }
  for (const e of await db.all<{ id: string; seats: number; active: number; distinct_seats: number }>(
    `SELECT e.id, e.seats, COUNT(a.id) AS active, COUNT(DISTINCT a.seat) AS distinct_seats
       FROM entitlements e JOIN activations a ON a.entitlement_id = e.id AND a.status = 'active' GROUP BY e.id, e.seats`,
  )) {
    if (Number(e.active) > Number(e.seats) || Number(e.distinct_seats) !== Number(e.active))
      fail(`entitlement ${e.id}: ${e.active} active seats, limit ${e.seats}`);
  }
  await opened.close();

  // Every License file served must verify against the root (signature chain, algorithm, validity window).
  let licensesVerified = 0;
  if (deployment.rootCertificatePem) {
    const verifier = new LicenseVerifier({ roots: [deployment.rootCertificatePem] });
    for (const text of served) {
      try {
        verifier.verify(text);
        licensesVerified++;
      } catch (err) {
        fail(`a served License file does not verify: ${(err as Error).message}`);
      }
    }
  }

  const output = deployment.output();
  if (output.includes(ADMIN_TOKEN)) fail('the admin token appeared in the server output');
  if (output.includes('PRIVATE KEY')) fail('private key material appeared in the server output');
  if (/"level":(50|60)/.test(output)) {
    const lines = output.split('\n').filter((l) => /"level":(50|60)/.test(l));
    log(`server logged ${lines.length} error line(s), e.g. ${lines[0]?.slice(0, 300)}`);
  }
  await deployment.cleanup(failures.length > 0 || Boolean(opts.keepData));

  return {
    kills,
    ...stats,
    checked,
    failures,
    byOperation,
    drainMs,
    durationMs: Date.now() - started,
    integrity,
    licensesVerified,
    dataDir,
  };
}

/** The default deployment: one server process on SQLite; callers that get no answer wait until it is back. */
async function sqliteDeployment(simUrl: string): Promise<CrashDeployment> {
  const dataDir = mkdtempSync(join(tmpdir(), 'licensor-crash-'));
  const port = await freePort();
  const env = serverEnv(port, dataDir, simUrl, { LICENSOR_KOO_TIMEOUT_MS: '1500' });
  const outputs: string[][] = [];
  let server: ServerProcess = await spawnServer(env);
  outputs.push(server.output);
  let up: Promise<void> = Promise.resolve();
  return {
    dataDir,
    base: () => server.url,
    afterUnanswered: async () => {
      await up;
      await sleep(20);
    },
    disrupt: async () => {
      let markUp: () => void = () => undefined;
      up = new Promise<void>((resolve) => {
        markUp = resolve;
      });
      server.proc.kill('SIGKILL');
      await server.exited;
      if (Math.random() < 0.5) await sleep(between(0, 300)); // sometimes callers hit a closed port for a while
      server = await spawnServer(env);
      outputs.push(server.output);
      markUp();
      return 'restarted';
    },
    healthBase: () => server.url,
    stop: async () => {
      if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGTERM');
      await server.exited;
    },
    openForChecks: async () => {
      const db = openSqliteDatabase(join(dataDir, 'licensor.db'), { migrate: false });
      return { db, integrity: await db.integrityCheck(), close: () => db.close() };
    },
    output: () => outputs.flat().join(''),
    cleanup: async (keep) => {
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function summary(r: CrashReport): string {
  return [
    `kills survived:        ${r.kills}`,
    `requests sent:         ${r.requests} (${r.unanswered} unanswered by a dying server, then retried)`,
    `acknowledged:          ${r.acknowledged} (+ ${r.refused} definitive refusals: seat/quota limits)`,
    `acknowledged requests checked in the database: ${r.checked}`,
    `operations:            ${Object.entries(r.byOperation)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    `outbox drained in:     ${r.drainMs} ms`,
    `integrity_check:       ${r.integrity.join('; ')}`,
    `License files verified: ${r.licensesVerified}`,
    `duration:              ${(r.durationMs / 1000).toFixed(1)} s`,
    `failures:              ${r.failures.length}`,
    ...r.failures.map((f) => `  - ${f}`),
    ...(r.failures.length ? [`data folder kept: ${r.dataDir}`] : []),
  ].join('\n');
}

export { summary as crashSummary };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const report = await runCrashTest({
    kills: arg('--kills', 20),
    workers: arg('--workers', 12),
    log: (line) => console.log(`  ${line}`),
  });
  console.log(`\nCrash test\n${summary(report)}`);
  process.exit(report.failures.length === 0 ? 0 : 1);
}
