/**
 * The merchant console end to end in headless Chromium: the real console build (scripts/build.mjs, Vite),
 * served by a real Licensor server on 127.0.0.1 with its CSP, signing in with real operator accounts, acting
 * through the real admin API. The database is seeded through the server's own paths (activation API,
 * operator store) plus a failed outbox item.
 *
 * `npm run screenshots:console` (LICENSOR_SCREENSHOTS=1) also rewrites docs/screenshots/console-*.png.
 * Needs Debian's chromium; without it the suite is skipped with a message.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatCompactTime, type RunningServer, startServer, testConfig } from '@licensor/server';
import { activationBody, newDevice, seedEntitlement } from '@licensor/testkit/licensing';
import { freePort, signedGetUrl } from '@licensor/testkit/server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addOperator } from '../packages/server/src/operators/store';
// @ts-expect-error scripts/build.mjs is plain JavaScript without declarations
import { ensureBuilt } from '../scripts/build.mjs';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`console.e2e: skipped, ${CHROMIUM} not found. Install it with: apt-get install -y chromium`);
}
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOTS = join(ROOT, 'docs', 'screenshots');
const WRITE_SCREENSHOTS = process.env.LICENSOR_SCREENSHOTS === '1';
const PASSWORD = 'console-e2e-password';

let dir: string;
let running: RunningServer;
let browser: Browser;
let code: string;
let licenseId: string;
let deviceIds: string[];
let failedOutboxId: number;
/** Requests the pages made to anything but the server under test (must stay empty: no third parties). */
const foreignRequests: string[] = [];
const pageErrors: string[] = [];

async function seed() {
  const db = running.db;
  for (const [name, role] of [
    ['ada', 'admin'],
    ['olga', 'operator'],
    ['vera', 'viewer'],
  ] as const) {
    await addOperator(db, { name, role, password: PASSWORD }, 'cli:seed');
  }
  const products = ['OFFI0001', 'OFFI0001', 'CADX0002', 'CADX0002', 'DBAS0003'];
  const licenses = products.map((productId, i) =>
    seedEntitlement(db, {
      family: 'direct',
      productId,
      seats: 3,
      expiresAt: new Date(Date.now() + (90 + i * 30) * 86_400_000).toISOString(),
    }),
  );
  seedEntitlement(db, { family: 'direct', productId: 'CADX0002', status: 'suspended' });
  licenseId = licenses[0]!.id;
  code = licenses[0]!.code!;
  // Devices through the real activation API.
  deviceIds = [];
  for (const n of [1, 2]) {
    const res = await fetch(`${running.url}/api/v1/activations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(activationBody(newDevice(`console-e2e-${n}`), code)),
    });
    expect(res.ok, await res.clone().text()).toBe(true);
    deviceIds.push(((await res.json()) as { activationId: string }).activationId);
  }
  // Marketplace orders through the real production interface (family A, signed like KooGallery signs them),
  // and one call with a wrong key: the messages page and the overview show real traffic.
  for (const [i, productId] of ['OFFI0001', 'CADX0002', 'DBAS0003'].entries()) {
    const res = await fetch(
      `${running.url}${signedGetUrl({
        activity: 'getLicense',
        businessId: `biz-console-${i}`,
        customerId: `customer-${100 + i}`,
        orderId: `CS26120100${i}`,
        productId,
        expireTime: formatCompactTime(new Date(Date.now() + 365 * 86_400_000)),
        periodType: 'year',
        periodNumber: '1',
        amount: String(i + 2),
      })}`,
    );
    expect(((await res.json()) as { resultCode: string }).resultCode).toBe('000000');
  }
  await fetch(`${running.url}${signedGetUrl({ activity: 'getLicense', orderId: 'CS261201999' }, 'WRONG-KEY')}`);
  running.licensor.ctx.messages.flush();
  // A marketplace notification that gave up: what "retry" is for.
  const at = new Date().toISOString();
  failedOutboxId = Number(
    db.run(
      `INSERT INTO outbox (kind, payload, status, attempts, next_attempt_at, last_error, created_at, updated_at)
       VALUES ('koogallery.seed-notification', '{"orderId":"CS2612010001"}', 'failed', 8, ?, ?, ?, ?)`,
      [Date.now(), 'MKT.0999: marketplace answered 503 Service Unavailable', at, at],
    ).lastInsertRowid,
  );
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  page.on('request', (r) => {
    if (!r.url().startsWith(running.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) {
      foreignRequests.push(r.url());
    }
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|integrity/i.test(m.text())) pageErrors.push(m.text());
  });
  return { context, page };
}

async function signIn(page: Page, name: string) {
  await page.goto(`${running.url}/console/`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
}

async function shot(page: Page, name: string) {
  const png = await page.screenshot({ fullPage: true });
  expect(png.length).toBeGreaterThan(5000);
  if (WRITE_SCREENSHOTS) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `console-${name}.png`), fullPage: true });
  }
}

describe.skipIf(!HAVE_CHROMIUM)('merchant console in Chromium', () => {
  beforeAll(async () => {
    await ensureBuilt(['console']);
    dir = mkdtempSync(join(tmpdir(), 'licensor-console-e2e-'));
    // LICENSOR_PUBLIC_URL is the server's own address: go-live readiness dials it as KooGallery would.
    const port = await freePort();
    running = await startServer(
      testConfig({
        dataDir: join(dir, 'server'),
        port,
        host: '127.0.0.1',
        publicUrl: `http://127.0.0.1:${port}`,
        apiRateLimit: 10_000,
      }),
    );
    await seed();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await running?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console with a strict CSP, long-lived caching and integrity for hashed assets', async () => {
    const index = await fetch(`${running.url}/console/`);
    expect(index.status).toBe(200);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)" integrity="(sha384-[^"]+)"/g)];
    expect(assets.length).toBeGreaterThanOrEqual(2);
    const { createHash } = await import('node:crypto');
    for (const [, path, integrity] of assets) {
      const res = await fetch(`${running.url}${path}`);
      expect(res.headers.get('cache-control')).toMatch(/max-age=31536000.*immutable/);
      const digest = createHash('sha384')
        .update(Buffer.from(await res.arrayBuffer()))
        .digest('base64');
      expect(`sha384-${digest}`).toBe(integrity);
    }
    // A shared link to a page answers with the app.
    expect((await fetch(`${running.url}/console/licenses?q=x`)).status).toBe(200);
  });

  it('an operator finds a license by code, revokes it with a reason and sees the audit entry', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'olga');
    await shot(page, 'overview');
    await page.getByRole('link', { name: 'Licenses', exact: true }).click();
    await page.getByTestId('license-search').fill(code);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/console\/licenses\?q=/);
    const rows = page.getByTestId('licenses').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByRole('link', { name: code }).click();
    await page.getByTestId('license-code').waitFor();
    expect(await page.getByTestId('seats').textContent()).toBe('2 / 3');
    await shot(page, 'license');

    await page.getByTestId('revoke').click();
    await page.getByTestId('revoke-confirm').click();
    expect(await page.getByRole('alert').textContent()).toContain('reason');
    await page.getByTestId('revoke-reason').fill('Chargeback on order CS2612010001');
    await page.getByTestId('revoke-confirm').click();
    await page.locator('h1 .status-revoked').waitFor();
    const trail = page.getByTestId('license-audit');
    await expect.poll(() => trail.textContent()).toContain('operator:olga');
    expect(await trail.textContent()).toContain('Chargeback on order CS2612010001');
    const row = running.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [licenseId]);
    expect(row?.status).toBe('revoked');
    await context.close();
  });

  it('an operator frees a device and retries a failed outbox item', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'olga');
    await page.goto(`${running.url}/console/devices?code=${encodeURIComponent(code)}`);
    await page.getByTestId(`free-${deviceIds[0]}`).click();
    await page.getByTestId(`free-${deviceIds[0]}-reason`).fill('Laptop replaced');
    await page.getByTestId(`free-${deviceIds[0]}-confirm`).click();
    await expect
      .poll(() => running.db.first<{ status: string }>('SELECT status FROM activations WHERE id = ?', [deviceIds[0]]))
      .toMatchObject({ status: 'released' });
    await page.getByTestId(`free-${deviceIds[0]}`).waitFor({ state: 'detached' });
    await shot(page, 'devices');

    await page.getByRole('link', { name: 'Marketplace messages' }).click();
    await page.getByTestId(`retry-${failedOutboxId}`).waitFor();
    // Failed marketplace calls come first: the call signed with a wrong key.
    await page.getByTestId('failed-messages').waitFor();
    expect(await page.getByTestId('failed-messages').textContent()).toContain('000001');
    await shot(page, 'messages');
    await page.getByTestId(`retry-${failedOutboxId}`).click();
    await expect
      .poll(() =>
        running.db.first<{ actor: string }>(
          "SELECT actor FROM audit_log WHERE action = 'outbox.retried' AND detail LIKE ?",
          [`%"id":${failedOutboxId}%`],
        ),
      )
      .toMatchObject({ actor: 'operator:olga' });

    await page.getByRole('link', { name: 'Audit log' }).click();
    const audit = page.getByTestId('audit');
    await expect.poll(() => audit.textContent()).toContain('outbox.retried');
    expect(await audit.textContent()).toContain('activation.freed');
    await shot(page, 'audit');
    await context.close();
  });

  it('a viewer sees everything but cannot act; a call without the CSRF token is refused', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'vera');
    await page.getByText('Your role can read but not act.').waitFor();
    const other = running.db.first<{ id: string; code: string }>(
      "SELECT id, code FROM entitlements WHERE status = 'active' AND id != ? LIMIT 1",
      [licenseId],
    )!;
    await page.goto(`${running.url}/console/licenses/${encodeURIComponent(other.id)}`);
    await page.getByTestId('suspend').click();
    await page.getByTestId('suspend-reason').fill('trying');
    await page.getByTestId('suspend-confirm').click();
    expect(await page.getByRole('alert').textContent()).toMatch(/FORBIDDEN/);
    expect(
      running.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [other.id])?.status,
    ).toBe('active');
    await context.close();

    // An operator's session cookie without the X-CSRF-Token header: refused, nothing changes.
    const operator = await newPage();
    await signIn(operator.page, 'olga');
    const forged = await operator.context.request.post(
      `${running.url}/api/admin/v1/entitlements/${encodeURIComponent(other.id)}/suspend`,
      { data: { reason: 'forged' } },
    );
    expect(forged.status()).toBe(403);
    expect(((await forged.json()) as { error: { message: string } }).error.message).toMatch(/X-CSRF-Token/);
    expect(
      running.db.first<{ status: string }>('SELECT status FROM entitlements WHERE id = ?', [other.id])?.status,
    ).toBe('active');
    await operator.context.close();
  });

  it('an admin sees tokens and operators, and the switch turns the console Chinese', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'ada');
    await page.getByRole('link', { name: 'Operators' }).click();
    await expect.poll(() => page.getByTestId('operators').locator('tbody tr').count()).toBe(3);
    await shot(page, 'operators');
    await page.getByRole('button', { name: '中文' }).click();
    await page.getByRole('link', { name: '许可证' }).click();
    await page.getByTestId('licenses').waitFor();
    await shot(page, 'licenses-zh');
    // The time shows local (Asia/Shanghai here) with UTC on hover.
    const title = await page.locator('time').first().getAttribute('title');
    expect(title).toMatch(/UTC$/);
    await context.close();
  });

  it("an operator runs the family A dial tests against the server's own production address", async () => {
    const { context, page } = await newPage();
    await signIn(page, 'olga');
    await page.getByRole('link', { name: 'Go-live readiness' }).click();
    await page.getByTestId('keys').waitFor();
    expect(await page.getByTestId('keys').textContent()).toContain('familyAconfigured');
    // The seeded family-A orders were answered successfully: the interface's last success is shown.
    expect(
      await page.getByTestId('last-success').locator('tbody tr').first().locator('time').first().getAttribute('title'),
    ).toMatch(/UTC$/);
    const family = page.getByTestId('dial-A');
    await family.getByRole('button', { name: 'Run' }).click();
    await family.locator('.status-done').waitFor({ timeout: 20_000 });
    expect(await family.locator('tbody tr').count()).toBeGreaterThan(1);
    expect(await family.textContent()).not.toContain('fails');
    await shot(page, 'readiness');
    await context.close();
  });

  it('made no request to a third party and broke no CSP or integrity rule', () => {
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
