import type { MarketplaceCaller } from './caller';
import { compact, daysFromNow, ids, spaced } from './ids';
import type { MarketplaceSimulator } from './marketplace';

/**
 * Scripted marketplace stories. Each step is a marketplace call (checked by the caller) or a hook into a
 * desktop client, so the same script drives `licensor simulate scenario` (marketplace only) and the demo
 * (with the real @licensor/client activating and checking in).
 */

export interface ClientHooks {
  /** Activates the license code on a desktop; returns the verdict (VALID, …). */
  activate(code: string): Promise<string>;
  /** Checks in; returns the verdict the server delivered. */
  checkIn(): Promise<string>;
  /** Verifies the stored License offline; returns the verdict. */
  verifyOffline?(): Promise<string>;
  /** Verifies a License file delivered through the marketplace (family C); returns the verdict. */
  importFile?(file: string): Promise<string>;
}

export interface Step {
  family: 'A' | 'B' | 'C' | 'faults' | 'tour';
  title: string;
  ok: boolean;
  detail: string;
}

export interface ScenarioContext {
  caller: MarketplaceCaller;
  sim: MarketplaceSimulator;
  client?: ClientHooks;
  testFlag?: boolean;
  /** Narration of each step (default: nothing). */
  narrate?: (step: Step) => void;
  /** Registers a family-B code with the server (admin API), as an operator would. */
  registerCode?: (code: string) => Promise<boolean>;
}

async function waitFor<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 250,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return undefined;
}

class Story {
  readonly steps: Step[] = [];
  constructor(
    private readonly ctx: ScenarioContext,
    private readonly family: Step['family'],
  ) {}

  record(title: string, ok: boolean, detail: string): boolean {
    const step = { family: this.family, title, ok, detail };
    this.steps.push(step);
    this.ctx.narrate?.(step);
    return ok;
  }

  async market(title: string, params: Record<string, string | undefined>, expect: string[] = ['000000']) {
    const r = await this.ctx.caller.call({ ...params, testFlag: this.ctx.testFlag ? '1' : params.testFlag }, expect);
    this.record(
      title,
      r.pass,
      `${r.activity} → ${r.resultCode}${r.problems.length ? ` (${r.problems.join('; ')})` : ''}`,
    );
    return r;
  }

  async client(title: string, run: (c: ClientHooks) => Promise<string>, expected: string) {
    const c = this.ctx.client;
    if (!c) return;
    try {
      const verdict = await run(c);
      this.record(
        title,
        verdict === expected,
        `client says ${verdict}${verdict === expected ? '' : ` (expected ${expected})`}`,
      );
    } catch (err) {
      this.record(title, false, `client failed: ${(err as Error).message}`);
    }
  }
}

/** Family A: the merchant mints the code at purchase; renew, expire, renew during the freeze, release. */
export async function familyAStory(ctx: ScenarioContext): Promise<Step[]> {
  const s = new Story(ctx, 'A');
  const orderId = ids.order();
  const r = await s.market('A buyer purchases a yearly license for 3 users', {
    activity: 'getLicense',
    businessId: ids.business(),
    customerId: ids.customer(),
    customerName: 'demo_buyer',
    orderId,
    productId: 'OFFI000000000000000001',
    skuCode: 'sku-pro',
    expireTime: compact(daysFromNow(365)),
    periodType: 'year',
    periodNumber: '1',
    amount: '3',
  });
  const instanceId = String(r.body.instanceId ?? '');
  const code = String(r.body.license ?? '');
  if (!r.pass) return s.steps;
  await s.client(`The buyer types ${code} into the desktop app`, (c) => c.activate(code), 'VALID');
  await s.client(
    'The app restarts without network and verifies offline',
    (c) => c.verifyOffline?.() ?? c.checkIn(),
    'VALID',
  );
  await s.market('The buyer renews for another year', {
    activity: 'refreshLicense',
    orderId: ids.order(),
    instanceId,
    expireTime: compact(daysFromNow(730)),
    periodType: 'year',
    periodNumber: '1',
  });
  await s.client('The app checks in and receives the longer License', (c) => c.checkIn(), 'VALID');
  await s.market('The subscription runs out: the marketplace expires it', {
    activity: 'expireLicense',
    orderId,
    instanceId,
  });
  await s.client('The app checks in and locks', (c) => c.checkIn(), 'EXPIRED');
  await s.market('The buyer renews during the freeze period', {
    activity: 'refreshLicense',
    orderId: ids.order(),
    instanceId,
    expireTime: compact(daysFromNow(365)),
  });
  await s.client('The app checks in and unlocks', (c) => c.checkIn(), 'VALID');
  await s.market('The retention period ends: the marketplace releases it', {
    activity: 'releaseLicense',
    orderId,
    instanceId,
  });
  await s.client('The app checks in and learns the license is gone', (c) => c.checkIn(), 'RELEASED');
  return s.steps;
}

/** Family B: the marketplace mints a PL… code; the server activates and queries it at first use. */
export async function familyBStory(ctx: ScenarioContext): Promise<Step[]> {
  const s = new Story(ctx, 'B');
  const code = ctx.sim.addCode({ amount: 2, expireTime: compact(daysFromNow(30)) }).code;
  s.record('A buyer purchases a license code (the marketplace issues it)', true, code);
  if (!ctx.client && ctx.registerCode) {
    // Without a desktop client the server learns the code from an operator instead of a first activation.
    s.record('The operator registers the code with the server', await ctx.registerCode(code), code);
  }
  await s.client(
    `The buyer types ${code} into the desktop app (server activates it at KooGallery)`,
    (c) => c.activate(code),
    'VALID',
  );
  if (ctx.client) {
    const c = ctx.sim.codes.get(code);
    s.record(
      'The marketplace sees the code activated',
      Boolean(c?.activated),
      c?.activated ? 'activated' : 'not activated',
    );
  }
  const renewOrder = ids.order();
  ctx.sim.addCode({ code, expireTime: compact(daysFromNow(395)) });
  await s.market('The buyer renews for a year', {
    activity: 'refreshLicenseCode',
    scene: 'RENEWAL',
    license: code,
    orderId: renewOrder,
    orderLineId: ids.orderLine(renewOrder),
    expireTime: compact(daysFromNow(395)),
  });
  await s.client('The app checks in and receives the new expiry', (c) => c.checkIn(), 'VALID');
  ctx.sim.addCode({ code, status: 'EXPIRED' });
  await s.market('Expired past the grace period: the marketplace freezes it', {
    activity: 'updateLicenseCodeStatus',
    license: code,
    status: 'FREEZE',
  });
  await s.client('The app checks in and locks', (c) => c.checkIn(), 'FROZEN');
  ctx.sim.addCode({ code, status: 'ALIVE' });
  await s.market('The buyer renews during the freeze: unfrozen', {
    activity: 'updateLicenseCodeStatus',
    license: code,
    status: 'UNFREEZE',
  });
  await s.client('The app checks in and unlocks', (c) => c.checkIn(), 'VALID');
  ctx.sim.addCode({ code, status: 'RELEASED' });
  await s.market('The buyer unsubscribes: the code is released', { activity: 'releaseLicenseCode', license: code });
  await s.client('The app checks in and learns the license is gone', (c) => c.checkIn(), 'RELEASED');
  return s.steps;
}

/** Family C: newInstance with ids only, order queried by the server, License files requested per device. */
export async function familyCStory(ctx: ScenarioContext): Promise<Step[]> {
  const s = new Story(ctx, 'C');
  const orderId = ids.order();
  const orderLineId = ids.orderLine(orderId);
  ctx.sim.addOrder({
    orderId,
    orderLineId,
    chargingMode: 'PERIOD',
    periodType: 'year',
    periodNumber: 1,
    expireTime: compact(daysFromNow(365)),
    linearValue: 2,
  });
  const created = await s.market(
    'A buyer purchases 2 device licenses (newInstance)',
    {
      activity: 'newInstance',
      businessId: ids.business(),
      orderId,
      orderLineId,
    },
    ['000000', '000004'],
  );
  const instanceId = String(created.body.instanceId ?? '');
  if (!instanceId) return s.steps;
  const queried = ctx.sim.calls.some((c) => c.path.endsWith('/v1/order/query') && c.authOk);
  s.record(
    'The server fetched the order from the marketplace (AK/SK signed)',
    queried,
    queried ? 'order/query seen' : 'no order query',
  );
  const eventId = ids.event();
  await s.market(
    "KooGallery's desktop client asks for a License for one machine",
    {
      activity: 'getLicenseAsync',
      instanceId,
      eventId,
      effectiveTime: spaced(new Date()),
      expireTime: spaced(daysFromNow(365)),
      deviceFingerprint: ids.fingerprint(),
    },
    ['000000', '000004'],
  );
  const upload = await waitFor(() => ctx.sim.uploadsFor(eventId)[0]);
  s.record(
    'The server uploaded the signed License for that request',
    Boolean(upload),
    upload
      ? `${upload.fileName} (${upload.content.length} bytes, sha256 ${upload.sha256?.slice(0, 12)}…)`
      : 'nothing uploaded',
  );
  await s.client("The merchant's app activates with the instance id", (c) => c.activate(instanceId), 'VALID');
  const renewal = ids.order();
  await s.market('The buyer renews', {
    activity: 'refreshInstance',
    scene: 'RENEWAL',
    instanceId,
    orderId: renewal,
    orderLineId: ids.orderLine(renewal),
    expireTime: compact(daysFromNow(730)),
  });
  await s.client('The app checks in and receives the new expiry', (c) => c.checkIn(), 'VALID');
  await s.market('Expired: the marketplace freezes the instance', {
    activity: 'updateInstanceStatus',
    instanceId,
    status: 'FREEZE',
  });
  await s.client('The app checks in and locks', (c) => c.checkIn(), 'FROZEN');
  await s.market('Renewed during the freeze: unfrozen', {
    activity: 'updateInstanceStatus',
    instanceId,
    status: 'UNFREEZE',
  });
  await s.client('The app checks in and unlocks', (c) => c.checkIn(), 'VALID');
  await s.market('The instance is released', { activity: 'releaseInstance', instanceId });
  await s.market(
    ctx.testFlag
      ? 'A debug License request after release revives the test instance (dial tests replay forever)'
      : 'A License request after release is refused',
    {
      activity: 'getLicenseAsync',
      instanceId,
      eventId: ids.event(),
      effectiveTime: spaced(new Date()),
      expireTime: spaced(daysFromNow(365)),
      deviceFingerprint: ids.fingerprint(),
    },
    ctx.testFlag ? ['000000', '000004'] : ['000003'],
  );
  await s.client('The app checks in and learns the license is gone', (c) => c.checkIn(), 'RELEASED');
  return s.steps;
}

/**
 * Fault injection against a server whose open-API base points at `ctx.sim`: slow answers past the 5 s
 * budget, 5xx, dropped connections, duplicate deliveries and clock skew — each with the expected recovery.
 */
export async function faultStory(
  ctx: ScenarioContext,
  makeCaller: (skewMs: number) => MarketplaceCaller,
  opts: { slowMs?: number } = {},
): Promise<Step[]> {
  const s = new Story(ctx, 'faults');
  const order = (linearValue = 1) => {
    const orderId = ids.order();
    ctx.sim.addOrder({ orderId, chargingMode: 'PERIOD', expireTime: compact(daysFromNow(365)), linearValue });
    return { orderId, orderLineId: ids.orderLine(orderId) };
  };
  const settle = async (o: { orderId: string; orderLineId: string }) =>
    waitFor(
      async () => {
        const r = await ctx.caller.call({ activity: 'newInstance', businessId: ids.business(), ...o }, [
          '000000',
          '000004',
        ]);
        return r.resultCode === '000000' ? r : undefined;
      },
      30_000,
      // Asks a few times a second: the outbox finishes between its retries (1 s, 2 s…), and each poll is one cheap call.
      250,
    );

  // 1. The marketplace answers slower than the server's open-API timeout.
  ctx.sim.faults = { delayMs: opts.slowMs ?? 6000 };
  const slow = order();
  const r1 = await s.market(
    'Slow marketplace: newInstance still answers within 5 s',
    { activity: 'newInstance', businessId: ids.business(), ...slow },
    ['000004', '000000'],
  );
  s.record('…and the answer took under 5 s', r1.ms < 5000, `${r1.ms.toFixed(0)} ms`);
  ctx.sim.faults = {};
  s.record(
    '…the outbox finishes provisioning once the marketplace is fast again',
    Boolean(await settle(slow)),
    'newInstance → 000000',
  );

  // 2. 5xx answers.
  ctx.sim.faults = { failNext: 2 };
  const failing = order();
  await s.market(
    'Marketplace errors (HTTP 500): newInstance answers 000004',
    { activity: 'newInstance', businessId: ids.business(), ...failing },
    ['000004', '000000'],
  );
  s.record(
    '…the outbox retries until the order query succeeds',
    Boolean(await settle(failing)),
    'newInstance → 000000',
  );

  // 3. Dropped connections during the License upload.
  const inst = await ctx.caller.call({ activity: 'newInstance', businessId: ids.business(), ...order() }, [
    '000000',
    '000004',
  ]);
  ctx.sim.faults = { dropNext: 2 };
  const eventId = ids.event();
  await s.market(
    'Connections dropped during the upload: getLicenseAsync answers 000004',
    {
      activity: 'getLicenseAsync',
      instanceId: String(inst.body.instanceId),
      eventId,
      effectiveTime: spaced(new Date()),
      expireTime: spaced(daysFromNow(300)),
      deviceFingerprint: ids.fingerprint(),
    },
    ['000004', '000000'],
  );
  const up = await waitFor(() => ctx.sim.uploadsFor(eventId)[0], 30_000);
  s.record('…the License reaches the marketplace after the outbox retries', Boolean(up), up ? 'uploaded' : 'missing');
  ctx.sim.faults = {};

  // 4. Duplicate deliveries.
  const dupOrder = ids.order();
  const purchase = {
    activity: 'getLicense',
    businessId: ids.business(),
    customerId: ids.customer(),
    orderId: dupOrder,
    productId: 'OFFI000000000000000001',
  };
  const dups = await Promise.all(
    Array.from({ length: 5 }, () => ctx.caller.call({ ...purchase, businessId: ids.business() })),
  );
  const distinct = new Set(dups.map((d) => `${d.body.instanceId}|${d.body.license}`));
  s.record(
    'Five concurrent deliveries of one purchase collapse into one license',
    distinct.size === 1 && dups.every((d) => d.pass),
    `${distinct.size} distinct answer(s)`,
  );

  // 5. Clock skew.
  const skewed = makeCaller(61_000);
  const r5 = await skewed.call({ activity: 'releaseLicenseCode', license: ids.code() }, ['000001']);
  s.record('A request signed 61 s in the future is refused (000001)', r5.pass, r5.resultCode);
  const tolerable = makeCaller(59_000);
  const r6 = await tolerable.call({ activity: 'releaseLicenseCode', license: ids.code() }, ['000000']);
  s.record('A request signed 59 s in the future is accepted', r6.pass, r6.resultCode);
  return s.steps;
}

export function summarise(steps: Step[]): { passed: number; failed: number } {
  const passed = steps.filter((s) => s.ok).length;
  return { passed, failed: steps.length - passed };
}

/** One call of every activity the production interface serves, each with valid input. */
export async function activityTour(ctx: ScenarioContext): Promise<Step[]> {
  const s = new Story(ctx, 'tour');
  const a = await s.market('getLicense', {
    activity: 'getLicense',
    businessId: ids.business(),
    customerId: ids.customer(),
    orderId: ids.order(),
    productId: 'OFFI000000000000000001',
    expireTime: compact(daysFromNow(365)),
    periodType: 'year',
  });
  const aId = String(a.body.instanceId ?? '');
  await s.market('refreshLicense', {
    activity: 'refreshLicense',
    orderId: ids.order(),
    instanceId: aId,
    expireTime: compact(daysFromNow(700)),
  });
  await s.market('expireLicense', { activity: 'expireLicense', orderId: ids.order(), instanceId: aId });
  await s.market('releaseLicense', { activity: 'releaseLicense', orderId: ids.order(), instanceId: aId });
  const code = ids.code();
  s.record('register a family-B code with the server (operator)', (await ctx.registerCode?.(code)) ?? true, code);
  const o = ids.order();
  await s.market(
    'refreshLicenseCode',
    {
      activity: 'refreshLicenseCode',
      scene: 'RENEWAL',
      license: code,
      orderId: o,
      orderLineId: ids.orderLine(o),
      expireTime: compact(daysFromNow(60)),
    },
    ctx.registerCode ? ['000000'] : ['000000', '000003'],
  );
  await s.market(
    'updateLicenseCodeStatus',
    { activity: 'updateLicenseCodeStatus', license: code, status: 'FREEZE' },
    ctx.registerCode ? ['000000'] : ['000000', '000003'],
  );
  await s.market('releaseLicenseCode', { activity: 'releaseLicenseCode', license: code });
  const orderId = ids.order();
  const orderLineId = ids.orderLine(orderId);
  ctx.sim.addOrder({ orderId, orderLineId, expireTime: compact(daysFromNow(365)), linearValue: 2 });
  const c = await s.market(
    'newInstance',
    { activity: 'newInstance', businessId: ids.business(), orderId, orderLineId },
    ['000000', '000004'],
  );
  const cId = String(c.body.instanceId ?? '');
  await s.market('queryInstance', { activity: 'queryInstance', instanceId: cId }, ['000000', '000003']);
  const r = ids.order();
  await s.market('refreshInstance', {
    activity: 'refreshInstance',
    scene: 'RENEWAL',
    instanceId: cId,
    orderId: r,
    orderLineId: ids.orderLine(r),
    expireTime: compact(daysFromNow(730)),
  });
  const up = ids.order();
  ctx.sim.addOrder({ orderId: up, orderType: 'CHANGE', expireTime: compact(daysFromNow(730)), linearValue: 5 });
  await s.market('upgradeInstance', {
    activity: 'upgradeInstance',
    instanceId: cId,
    orderId: up,
    orderLineId: ids.orderLine(up),
  });
  await s.market(
    'getLicenseAsync',
    {
      activity: 'getLicenseAsync',
      instanceId: cId,
      eventId: ids.event(),
      effectiveTime: spaced(new Date()),
      expireTime: spaced(daysFromNow(365)),
      deviceFingerprint: ids.fingerprint(),
    },
    ['000000', '000004'],
  );
  await s.market('updateInstanceStatus', { activity: 'updateInstanceStatus', instanceId: cId, status: 'FREEZE' });
  await s.market('releaseInstance', { activity: 'releaseInstance', instanceId: cId });
  await s.market('orderNotify', { activity: 'orderNotify', orderId, orderLineId, testFlag: '0' });
  return s.steps;
}
