/**
 * The license window end to end in headless Chromium. The page is the real bundle (built by scripts/build.ts
 * with the test server's root pinned), served with the same headers as the app:// protocol. `window.licensor`
 * is the real preload API (preload/api.ts) over a test bridge in place of Electron's IPC: each call goes
 * through the real IPC handlers (sender and argument checks), the real LicenseService and a real
 * LicenseManager, which talks to a real Licensor server on 127.0.0.1. Fingerprints are injected.
 *
 * Needs Debian's chromium (CI installs it); without it the suite is skipped with a message.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generateLicenseCode, schemeAAuthToken } from '@licensor/shared';
import { CHROMIUM, checkChromiumFeatures, chromiumLaunchOptions } from '@licensor/testkit/chromium';
import * as esbuild from 'esbuild';
import type { Browser, BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintFromReadings, LicenseManager, type MachineFingerprint } from '../src';
import { activationErrorText } from '../src/messages';
import { handlerFor, INVOKE_CHANNELS } from './main/ipc';
import { LicenseService, type OfflineFiles } from './main/licenseService';
import { serveApp } from './main/security';
import { buildShell } from './scripts/build';
import { CHANNELS, type InvokeChannel } from './shared/api';

const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(
    `renderer.e2e: skipped, ${CHROMIUM} not found. Install it with: apt-get update && apt-get install -y chromium`,
  );
}

const HERE = dirname(fileURLToPath(import.meta.url));
const SCREENSHOTS = join(HERE, '..', '..', '..', 'docs', 'screenshots');
/** Every run renders and checks every view; only LICENSOR_SCREENSHOTS=1 rewrites the files in docs/screenshots. */
const WRITE_SCREENSHOTS = process.env.LICENSOR_SCREENSHOTS === '1';
const PRODUCT = 'OFFI0001';

/**
 * The server is loaded at run time by path, not imported: a static import would pull the server's sources
 * into the client's type-check, where the renderer's DOM lib clashes with Node's fetch types. These are the
 * few members the test uses.
 */
interface RunningServer {
  url: string;
  keys: { rootCertificatePem: string };
  licensor: { ctx: unknown };
  close(): Promise<void>;
}
interface ServerModules {
  startServer(config: unknown): Promise<RunningServer>;
  testConfig(overrides: Record<string, unknown>): unknown;
  issueOfflineResponse(ctx: unknown, requestText: string, actor: string): Promise<string>;
}
async function loadServer(): Promise<ServerModules> {
  const src = join(HERE, '..', '..', 'server', 'src');
  const load = (file: string) => import(pathToFileURL(join(src, file)).href);
  const [index, licensing] = await Promise.all([load('index.ts'), load('licensing/index.ts')]);
  return { ...index, ...licensing } as ServerModules;
}

let server: ServerModules;
let dir: string;
let running: RunningServer;
let pageServer: http.Server;
let pageUrl: string;
let browser: Browser;
/** Chromium's launch, started at the beginning of the setup (awaited by afterAll too, so a failed setup closes it). */
let launching: Promise<void> | undefined;
let initScript: string;

function machine(n: number): MachineFingerprint {
  const hex = n.toString(16).padStart(2, '0');
  return fingerprintFromReadings({
    machineId: hex.repeat(16),
    hardwareUuid: `${hex.repeat(4)}-1111-2222-3333-${hex.repeat(6)}`,
    baseboardSerial: `BOARD-${hex}`,
    cpu: 'GenuineIntel Intel Core i5-1135G7 (6/140/1)',
    diskSerials: [`DISK-${hex}`],
    macs: [`04:7C:16:5E:E3:${hex}`],
  });
}

const compactUtc = (d: Date, ms = false) =>
  d
    .toISOString()
    .replace(/[-:TZ.]/g, '')
    .slice(0, ms ? 17 : 14);

/** A purchase through the production interface (family A `getLicense`, scheme-A signed with 'KEY'). */
async function purchase(seats: number): Promise<{ code: string; instanceId: string }> {
  const params: Record<string, string> = {
    activity: 'getLicense',
    businessId: randomUUID(),
    customerId: 'customer-e2e',
    orderId: `CS${randomUUID().replace(/-/g, '').slice(0, 16)}`,
    productId: PRODUCT,
    amount: String(seats),
    periodType: 'year',
    periodNumber: '1',
    expireTime: compactUtc(new Date(Date.now() + 365 * 86_400_000)),
    timeStamp: compactUtc(new Date(), true),
  };
  return produce(params) as Promise<{ code: string; instanceId: string }>;
}

async function produce(params: Record<string, string>): Promise<{ code?: string; instanceId?: string }> {
  const all = { timeStamp: compactUtc(new Date(), true), ...params };
  const q = new URLSearchParams({ ...all, authToken: schemeAAuthToken('KEY', all) });
  const res = await fetch(`${running.url}/api/koogallery/produce?${q}`);
  const body = (await res.json()) as { resultCode: string; license?: string; instanceId?: string };
  expect(body.resultCode).toBe('000000');
  return { code: body.license, instanceId: body.instanceId };
}

function manager(name: string, fp: MachineFingerprint, serverUrl = running.url): LicenseManager {
  return new LicenseManager({
    productId: PRODUCT,
    roots: [running.keys.rootCertificatePem],
    serverUrl,
    dataDir: join(dir, 'devices', name),
    fingerprint: () => fp,
    device: { label: name, hostname: `${name}.example` },
  });
}

interface Device {
  page: Page;
  context: BrowserContext;
  /** True when the device has its own context (closed with it); false for the shared page. */
  own: boolean;
  detach(): void;
  manager: LicenseManager;
  /** What the offline dialogs would have written/read. */
  savedRequest: () => string | undefined;
  respondWith: (licenseText: string) => void;
  calls: string[];
}

/** A browser page for one simulated computer, with window.licensor bridged to the real main-process code. */
async function openDevice(name: string, fp: MachineFingerprint, opts: { serverUrl?: string; lang?: string } = {}) {
  const t0 = performance.now();
  const lap = (what: string) =>
    process.env.E2E_TIMING && console.log(`${name} ${what} ${Math.round(performance.now() - t0)} ms`);
  const m = manager(name, fp, opts.serverUrl);
  let saved: string | undefined;
  let response: string | undefined;
  const files: OfflineFiles = {
    async saveRequest(text, suggestedName) {
      saved = text;
      writeFileSync(join(dir, `${name}-${suggestedName}`), text);
      return { saved: true, fileName: suggestedName };
    },
    async openLicenseFile() {
      return response ?? null;
    },
  };
  const service = new LicenseService({
    manager: m,
    files,
    deviceName: `${name}.example`,
    productId: PRODUCT,
    productName: 'Licensor Demo',
  });
  const actions = {
    service,
    openApp: async () => (await m.verify()).valid,
    openLicenseWindow: async () => true,
  };
  // What Electron would report for our license page: a top-level app://licensor frame.
  const trusted = { senderFrame: { url: 'app://licensor/index.html', parent: null }, sender: { id: 1 } };
  const calls: string[] = [];
  const bridge: Bridge = async (channel, args) => {
    if (!INVOKE_CHANNELS.includes(channel as InvokeChannel)) throw new Error(`unknown channel ${channel}`);
    calls.push(channel);
    return handlerFor(channel as InvokeChannel, actions)(trusted, ...args);
  };
  // One page is reused for every English device (a new renderer process costs ~0.5 s on two cores).
  const own = opts.lang !== undefined;
  if (!own && !shared) {
    shared = await newContext('en-US');
    sharedPage = await shared.newPage();
  }
  const context = own ? await newContext(opts.lang!) : shared!;
  lap('context');
  const page = own ? await context.newPage() : sharedPage!;
  bridges.set(context, bridge);
  lap('page');
  const errors: string[] = [];
  const onError = (e: Error) => errors.push(e.message);
  const onConsole = (msg: ConsoleMessage) => {
    if (msg.type() === 'error') errors.push(msg.text());
  };
  page.on('pageerror', onError);
  page.on('console', onConsole);
  m.on('status', (status) => {
    if (bridges.get(context) !== bridge) return;
    void page
      .evaluate(
        ([channel, view]) =>
          (window as unknown as { __licensorEmit(c: string, v: unknown): void }).__licensorEmit(channel, view),
        [CHANNELS.statusChanged, service.view(status)] as const,
      )
      .catch(() => undefined);
  });
  await page.goto(`${pageUrl}/index.html`);
  lap('goto');
  await page.locator('#loading').waitFor({ state: 'hidden' });
  lap('ready');
  expect(errors, `page errors: ${errors.join('; ')}`).toEqual([]);
  const device: Device = {
    page,
    context,
    own,
    detach: () => {
      page.off('pageerror', onError);
      page.off('console', onConsole);
    },
    manager: m,
    calls,
    savedRequest: () => saved,
    respondWith: (text) => {
      response = text;
    },
  };
  return device;
}

async function closeDevice(d: Device) {
  d.detach();
  if (d.own) await d.context.close();
  await d.manager.stop();
}

type Bridge = (channel: string, args: unknown[]) => Promise<unknown>;
const bridges = new Map<BrowserContext, Bridge>();
let shared: BrowserContext | undefined;
let sharedPage: Page | undefined;

/** A context whose window.licensor calls go to the bridge of the device currently using it. */
async function newContext(locale: string): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 560, height: 820 }, locale, deviceScaleFactor: 1 });
  await context.exposeFunction('__licensorInvoke', (channel: string, args: unknown[]) => {
    const bridge = bridges.get(context);
    if (!bridge) throw new Error('no device is using this page');
    return bridge(channel, args);
  });
  await context.addInitScript({ content: initScript });
  return context;
}

/**
 * Renders the view as the screenshot in docs/screenshots/<file> shows it, and checks what a person would notice:
 * nothing wider than the window, no unfilled placeholder, no "(s)" plural. Writes the file only on request.
 */
async function shot(page: Page, file: string) {
  const { overflow, text } = await page.evaluate(() => ({
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text a person sees (hidden elements excluded)
    text: document.body.innerText,
  }));
  expect(overflow, `${file}: wider than the window`).toBeLessThanOrEqual(0);
  expect(text, `${file}: placeholder or "(s)" on screen`).not.toMatch(/\{\w+\}|\(s\)|undefined|null|NaN/);
  if (WRITE_SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
  const png = await page.screenshot({
    fullPage: true,
    ...(WRITE_SCREENSHOTS ? { path: join(SCREENSHOTS, file) } : {}),
  });
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
}

/** Switches the window's language with its own toggle (the choice persists in the page's storage). */
async function toggleLanguage(page: Page, to: 'en' | 'zh') {
  await page.click('#lang-toggle');
  await page.waitForFunction((lang) => document.documentElement.lang === lang, to === 'zh' ? 'zh-CN' : 'en');
}

/** The error box as three lines: sentence, detail, next step. */
async function errorLines(page: Page) {
  return {
    title: await page.locator('#error-title').textContent(),
    detail: await page.locator('#error-detail').textContent(),
    action: await page.locator('#error-action').textContent(),
  };
}

describe.skipIf(!HAVE_CHROMIUM)('license window (headless Chromium, real server)', () => {
  /** The screenshot files as they were before the run (name → mtime), to prove an ordinary run leaves them. */
  let before: Map<string, number>;
  const snapshot = () =>
    new Map(
      (existsSync(SCREENSHOTS) ? readdirSync(SCREENSHOTS) : []).map((f) => [f, statSync(join(SCREENSHOTS, f)).mtimeMs]),
    );

  beforeAll(async () => {
    before = snapshot();
    // Chromium starts while the server starts and the pages are built (about a second on two cores).
    launching = import('playwright-core')
      .then(({ chromium }) =>
        chromium.launch(
          chromiumLaunchOptions([
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ]),
        ),
      )
      .then((b) => {
        browser = b;
        checkChromiumFeatures();
      });
    dir = mkdtempSync(join(tmpdir(), 'licensor-electron-e2e-'));
    server = await loadServer();
    running = await server.startServer(
      server.testConfig({ dataDir: join(dir, 'server'), port: 0, host: '127.0.0.1', apiRateLimit: 10_000 }),
    );

    // The real build step, pinning the test server's root.
    writeFileSync(join(dir, 'root.crt.pem'), running.keys.rootCertificatePem);
    writeFileSync(
      join(dir, 'licensor.config.ts'),
      `export default ${JSON.stringify({ productId: PRODUCT, rootCertificatePath: './root.crt.pem', serverUrl: running.url, appName: 'Licensor Demo' })};\n`,
    );
    const built = await buildShell({ configPath: join(dir, 'licensor.config.ts'), outDir: join(dir, 'dist') });
    const rendererDir = join(built.outDir, 'renderer');

    // The page server maps http://127.0.0.1:port/x to app://licensor/x through the protocol handler's logic.
    pageServer = http.createServer((req, res) => {
      void serveApp(rendererDir, { url: `app://licensor${req.url ?? '/'}`, method: req.method }).then((r) => {
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      });
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;

    // The preload's real API object, bundled for the page, over a bridge that stands in for ipcRenderer.
    const preload = await esbuild.build({
      stdin: {
        contents: "import { buildApi } from './preload/api'; globalThis.__buildLicensorApi = buildApi;",
        resolveDir: HERE,
        loader: 'ts',
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      write: false,
    });
    initScript = `${preload.outputFiles[0]!.text}
      (() => {
        const listeners = new Map();
        const ipc = {
          invoke: (channel, ...args) => window.__licensorInvoke(channel, args),
          on: (channel, l) => { if (!listeners.has(channel)) listeners.set(channel, new Set()); listeners.get(channel).add(l); },
          removeListener: (channel, l) => listeners.get(channel)?.delete(l),
        };
        window.__licensorEmit = (channel, payload) => { for (const l of listeners.get(channel) ?? []) l({}, payload); };
        window.licensor = globalThis.__buildLicensorApi(ipc);
      })();`;

    await launching;
  });

  afterAll(async () => {
    // `npm test` renders every view but writes nothing to docs/ (only LICENSOR_SCREENSHOTS=1 does).
    if (!WRITE_SCREENSHOTS) expect(snapshot()).toEqual(before);
    await shared?.close();
    await launching?.catch(() => undefined);
    await browser?.close();
    await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
    await running?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('opens on the activation view with a labelled, focused code field and serves the strict CSP', async () => {
    const d = await openDevice('first-run', machine(1));
    const { page } = d;
    await page.locator('#activate-view').waitFor({ state: 'visible' });
    expect(await page.locator('h1#activate-heading').textContent()).toBe('Activate this application');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('code');
    expect(await page.locator('label[for="code"]').textContent()).toBe('License code');
    const res = await fetch(`${pageUrl}/index.html`);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    await shot(page, 'activation-window.png');
    await closeDevice(d);
  });

  it('catches a mistyped LSR code before any request, and normalises a pasted code', async () => {
    const d = await openDevice('typo', machine(2));
    const { page } = d;
    const good = generateLicenseCode();
    // Change the last symbol: the check symbol no longer matches.
    const last = good.at(-1)!;
    const typo = good.slice(0, -1) + (last === '0' ? '1' : '0');
    await page.fill('#code', typo);
    await page.click('#activate-button');
    expect(await page.locator('#code-hint').textContent()).toContain('typo');
    expect(await page.getAttribute('#code', 'aria-invalid')).toBe('true');
    expect(d.calls.filter((c) => c === CHANNELS.activate)).toEqual([]);

    await page.fill('#code', '');
    const pasted = ` ${good.toLowerCase().replace(/-/g, ' ').slice(0, 14)}\n${good.toLowerCase().replace(/-/g, ' ').slice(14)} `;
    await page.evaluate((text) => {
      const input = document.getElementById('code') as HTMLInputElement;
      input.focus();
      const data = new DataTransfer();
      data.setData('text/plain', text);
      input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, pasted);
    expect(await page.inputValue('#code')).toBe(good);
    expect(await page.locator('#code-hint').textContent()).toBe('');

    await page.fill('#code', ' pl12ab34cd ');
    await page.evaluate(() => {
      const input = document.getElementById('code') as HTMLInputElement;
      const data = new DataTransfer();
      data.setData('text/plain', input.value);
      input.value = '';
      input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    });
    expect(await page.inputValue('#code')).toBe('PL12AB34CD');
    await closeDevice(d);
  });

  it('says once that a code was not recognised: one sentence, one detail line, one next step (EN and ZH)', async () => {
    const d = await openDevice('wrong-code', machine(3));
    const { page } = d;
    const code = generateLicenseCode();
    await page.fill('#code', code);
    await page.press('#code', 'Enter'); // keyboard submit
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await errorLines(page)).toEqual({
      title: 'This license code was not recognised.',
      detail: `The license server has no license with the code ${code}.`,
      action: 'Compare the code with your order confirmation and enter it again.',
    });
    // A first activation has no seat to free; the server's own sentence is not repeated underneath.
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text a person sees (hidden elements excluded)
    const box = (await page.locator('#error').innerText()).toLowerCase();
    expect(box).not.toMatch(/seat|details:/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('error');
    await shot(page, 'activation-error.png');
    await toggleLanguage(page, 'zh');
    expect(await errorLines(page)).toEqual(activationErrorText({ code: 'NOT_FOUND', licenseCode: code }, 'zh'));
    expect(await page.locator('#error-title').textContent()).toBe('无法识别此授权码。');
    await shot(page, 'activation-error-zh.png');
    await toggleLanguage(page, 'en');
    await closeDevice(d);
  });

  it('activates with a good code and shows the status view', async () => {
    const { code } = await purchase(3);
    const d = await openDevice('good-code', machine(4));
    const { page } = d;
    await page.fill('#code', code);
    await page.click('#activate-button');
    await page.locator('#status-view').waitFor({ state: 'visible' });
    expect(await page.locator('#status-badge').textContent()).toBe('Valid');
    // The product by name, this device by the name it was activated under, remaining times; no raw ids.
    expect(await page.locator('#f-product').textContent()).toBe('Licensor Demo');
    expect(await page.locator('#f-seats').textContent()).toBe('3');
    expect(await page.locator('#f-device').textContent()).toBe('good-code');
    expect(await page.locator('#f-expires').textContent()).toMatch(/^\d{1,2} \w{3} \d{4} \(36[45] days left\)$/);
    expect(await page.locator('#f-checkin').textContent()).not.toBe('Not yet');
    expect(await page.locator('#f-grace').textContent()).toMatch(/^\d+ days$/);
    const activationId = (await d.manager.verify()).detail.activationId!;
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text a person sees (hidden elements excluded)
    expect(await page.locator('#status-view').innerText()).not.toContain(activationId);
    expect(await page.isVisible('#open-app')).toBe(true);
    await shot(page, 'status-view.png');

    // Check in from the status view; the server confirms the license.
    await page.click('#check-in');
    await page.locator('#status-progress', { hasText: 'Checked in' }).waitFor();

    // The language toggle switches every string, and persists.
    await page.click('#lang-toggle');
    expect(await page.locator('#status-heading').textContent()).toBe('许可证状态');
    expect(await page.locator('#status-badge').textContent()).toBe('有效');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    expect(await page.locator('#f-grace').textContent()).toMatch(/^\d+ 天$/);
    expect(await page.locator('#f-expires').textContent()).toMatch(/（剩余 36[45] 天）$/);
    await shot(page, 'status-view-zh.png');
    // The choice is remembered across reloads; switch back for the next device on this page.
    await page.reload();
    await page.locator('#status-heading', { hasText: '许可证状态' }).waitFor();
    await page.click('#lang-toggle');
    expect(await page.locator('#status-heading').textContent()).toBe('License status');
    await closeDevice(d);
  });

  it("shows the edition and features of the customer's SKU, and the new ones after a check-in", async () => {
    // The merchant's catalogue (admin API), then a family-A purchase of its Basic SKU.
    const admin = { authorization: 'Bearer admin-test-token', 'content-type': 'application/json' };
    const catalog = {
      products: [
        {
          id: PRODUCT,
          skus: [
            { code: 'sku-basic', edition: 'Basic', features: { export: true } },
            { code: 'sku-pro', edition: 'Pro', features: { export: true, maxProjects: 20 } },
          ],
        },
      ],
    };
    const applied = await fetch(`${running.url}/api/admin/v1/catalog/apply`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ catalog }),
    });
    expect(applied.status).toBe(200);
    const { code, instanceId } = (await produce({
      activity: 'getLicense',
      businessId: randomUUID(),
      customerId: 'customer-e2e',
      orderId: `CS${randomUUID().replace(/-/g, '').slice(0, 16)}`,
      productId: PRODUCT,
      skuCode: 'sku-basic',
      amount: '1',
      expireTime: compactUtc(new Date(Date.now() + 365 * 86_400_000)),
    })) as { code: string; instanceId: string };

    const d = await openDevice('editions', machine(21));
    const { page } = d;
    await page.fill('#code', code);
    await page.click('#activate-button');
    await page.locator('#status-view').waitFor({ state: 'visible' });
    expect(await page.locator('#f-product').textContent()).toBe('Licensor Demo, Basic edition');
    expect(await page.locator('#f-features').textContent()).toBe('export');

    // The merchant moves the customer to Pro; the window shows it after a check-in.
    const moved = await fetch(`${running.url}/api/admin/v1/entitlements/${instanceId}`, {
      method: 'PATCH',
      headers: admin,
      body: JSON.stringify({ sku: 'sku-pro' }),
    });
    expect(moved.status).toBe(200);
    await page.click('#check-in');
    await page.locator('#f-product', { hasText: 'Pro edition' }).waitFor();
    expect(await page.locator('#f-features').textContent()).toBe('export, maxProjects: 20');
    await toggleLanguage(page, 'zh');
    expect(await page.locator('#f-product').textContent()).toBe('Licensor Demo（Pro版）');
    expect(await page.locator('dt[data-i18n="fieldFeatures"]').textContent()).toBe('功能');
    await toggleLanguage(page, 'en');
    await closeDevice(d);
  });

  it('tells an activated device whose license expired what to do, once', async () => {
    const { code, instanceId } = await purchase(1);
    const d = await openDevice('renewal-due', machine(12));
    const { page } = d;
    await page.fill('#code', code);
    await page.click('#activate-button');
    await page.locator('#status-view').waitFor({ state: 'visible' });
    await produce({ activity: 'expireLicense', instanceId });
    await page.click('#check-in');
    await page.locator('#status-notice').waitFor({ state: 'visible' });
    expect(await page.locator('#status-badge').textContent()).toBe('Needs attention');
    expect(await page.locator('#status-notice-title').textContent()).toBe('The license has expired.');
    expect(await page.locator('#status-notice-action').textContent()).toBe(
      'Renew the subscription, then select Check in now.',
    );
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text a person sees (hidden elements excluded)
    const notice = await page.locator('#status-notice').innerText();
    expect(notice.match(/renew/gi)).toHaveLength(1);
    expect(await page.locator('#f-expires').textContent()).toBe('Expired');
    expect(await page.locator('#f-grace').textContent()).toBe('—');
    await shot(page, 'status-view-expired.png');
    await toggleLanguage(page, 'zh');
    expect(await page.locator('#status-notice-action').textContent()).toBe('请续费后点击“立即联网校验”。');
    await shot(page, 'status-view-expired-zh.png');
    await toggleLanguage(page, 'en');
    await closeDevice(d);
  });

  it('lists the devices holding the seats when they are full, and frees one', async () => {
    const { code } = await purchase(1);
    const first = manager('office-pc', machine(5));
    expect((await first.activate(code)).valid).toBe(true);

    const d = await openDevice('laptop', machine(6));
    const { page } = d;
    await page.fill('#code', code);
    await page.click('#activate-button');
    await page.locator('#devices').waitFor({ state: 'visible' });
    expect(await errorLines(page)).toEqual({
      title: 'This license is already in use on another device.',
      detail: 'In use on office-pc.',
      action: 'Free the seat of a device you no longer use (below), then select Activate again.',
    });
    const items = page.locator('#device-list li');
    expect(await items.count()).toBe(1);
    expect(await items.first().locator('.device-name').textContent()).toBe('office-pc');
    // Said once: no "All 1 seat", no second paragraph repeating the error above the list.
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text a person sees (hidden elements excluded)
    const screen = await page.locator('#activate-view').innerText();
    expect(screen).not.toMatch(/all 1 seat|seat\(s\)|are in use/i);
    expect(screen.match(/in use/gi)).toHaveLength(2); // the sentence and the detail line
    expect(await page.locator('#devices-intro').textContent()).toBe('');
    await shot(page, 'seats-full.png');
    await toggleLanguage(page, 'zh');
    expect(await errorLines(page)).toEqual({
      title: '此许可证已在另一台设备上使用。',
      detail: '正在使用的设备：office-pc。',
      action: '请在下方释放不再使用的设备的席位，然后再次点击“激活”。',
    });
    expect(await page.locator('#devices-note').textContent()).toBe('最近 30 天已释放席位：0 / 3 次。');
    await shot(page, 'seats-full-zh.png');
    await toggleLanguage(page, 'en');

    // Keyboard: the free-seat button is reachable and labelled with the device.
    const free = items.first().locator('button');
    expect(await free.getAttribute('aria-label')).toBe('Free seat of office-pc');
    await free.focus();
    await page.keyboard.press('Enter');
    await page.locator('#devices-status', { hasText: 'is free' }).waitFor();
    expect(await page.locator('#device-list li').count()).toBe(0);

    await page.click('#activate-button');
    await page.locator('#status-view').waitFor({ state: 'visible' });
    expect(await page.locator('#status-badge').textContent()).toBe('Valid');
    // The freed computer learns it at its next check-in.
    expect((await first.checkIn()).status.valid).toBe(false);
    await first.stop();
    await closeDevice(d);
  });

  it('says so when the license has expired, with a renew hint', async () => {
    const { code, instanceId } = await purchase(1);
    await produce({ activity: 'expireLicense', instanceId });
    const d = await openDevice('expired', machine(7));
    const { page } = d;
    await page.fill('#code', code);
    await page.click('#activate-button');
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await errorLines(page)).toEqual(activationErrorText({ code: 'EXPIRED' }, 'en'));
    expect(await page.locator('#error-action').textContent()).toBe(
      'Renew the subscription, then select Activate again.',
    );
    await closeDevice(d);
  });

  it('says so when KooGallery or the license server cannot be reached', async () => {
    // A marketplace (PL…) code the server has not seen needs KooGallery, which is unreachable in this test.
    const d = await openDevice('marketplace-down', machine(8));
    await d.page.fill('#code', 'PL0123456789ABCDEF');
    await d.page.click('#activate-button');
    await d.page.locator('#error').waitFor({ state: 'visible' });
    expect(await d.page.locator('#error-title').textContent()).toBe(
      activationErrorText({ code: 'MARKETPLACE_UNAVAILABLE' }, 'en').title,
    );
    await closeDevice(d);

    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const off = await openDevice('offline-pc', machine(9), { serverUrl: `http://127.0.0.1:${port}` });
    await off.page.fill('#code', generateLicenseCode());
    await off.page.click('#activate-button');
    await off.page.locator('#error').waitFor({ state: 'visible' });
    expect(await errorLines(off.page)).toEqual(activationErrorText({ code: 'SERVER_UNREACHABLE' }, 'en', 'window'));
    // The offline path opens by itself: it is the way forward without a connection.
    expect(await off.page.evaluate(() => (document.getElementById('offline') as HTMLDetailsElement).open)).toBe(true);
    await closeDevice(off);
  });

  it('activates offline: saves a request file, imports the License file issued for it', async () => {
    const { code } = await purchase(2);
    const d = await openDevice('air-gapped', machine(10));
    const { page } = d;
    await page.click('#offline summary');
    await page.fill('#code', code);
    await page.click('#save-request');
    await page.locator('#offline-status', { hasText: 'Saved' }).waitFor();
    const request = d.savedRequest();
    expect(request).toContain('BEGIN LICENSOR ACTIVATION REQUEST');
    expect(await page.locator('#offline-status').textContent()).toContain('.licreq');

    // Something that is not a License file is refused with a message, and nothing changes.
    d.respondWith('this is not a license file');
    await page.click('#import-license');
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.isVisible('#status-view')).toBe(false);

    // The vendor's side: the server's offline-activation function answers the request.
    const license = await server.issueOfflineResponse(running.licensor.ctx, request!, 'e2e-operator');
    d.respondWith(license);
    await page.click('#import-license');
    await page.locator('#status-view').waitFor({ state: 'visible' });
    expect(await page.locator('#status-badge').textContent()).toBe('Valid');
    expect(await page.locator('#f-seats').textContent()).toBe('2');
    await closeDevice(d);
  });

  it('starts in Chinese when the system language is Chinese', async () => {
    const d = await openDevice('zh-pc', machine(11), { lang: 'zh-CN' });
    expect(await d.page.locator('#activate-heading').textContent()).toBe('激活此应用');
    expect(await d.page.locator('label[for="code"]').textContent()).toBe('授权码');
    expect(await d.page.locator('#lang-toggle').textContent()).toBe('English');
    await closeDevice(d);
  });
});
