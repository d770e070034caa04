/// <reference lib="dom.iterable" />
/**
 * The license window: activation (code entry, seats-full device list, offline request/response) and the
 * status view. Talks to the main process only through `window.licensor` (the preload's API); no Node APIs.
 * Bundled by scripts/build.ts to dist/renderer/renderer.js (IIFE; the CSP allows only 'self' scripts).
 */
import { activationErrorText, describeStatus, type Language, statusText } from '../../src/messages';
import type { DevicesView, ErrorView, LicenseView } from '../shared/api';
import { initialLanguage, type StringKey, t, tn } from './i18n';
import { cleanPastedCode, codeFeedback, deviceName, formatDate, statusFacts, statusNotice, viewFor } from './view';

const LANG_KEY = 'licensor.lang';
const api = window.licensor;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

let lang: Language = initialLanguage(navigator.language, safeGetStored());
let current: LicenseView | null = null;
/** The code of the last activation attempt: the seat list and offline request need it. */
let attemptedCode = '';
let lastError: ErrorView | null = null;
let lastDevices: DevicesView | null = null;

function safeGetStored(): string | null {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

function setText(id: string, text: string): void {
  $(id).textContent = text;
}

/** Status lines written after an action; kept as functions so a language switch rewrites them. */
const transient = new Map<string, () => string>();

function say(id: string, text: () => string): void {
  transient.set(id, text);
  setText(id, text());
}

function show(id: string, visible: boolean): void {
  $(id).hidden = !visible;
}

/** Static strings: every element with data-i18n gets its text in the current language. */
function applyLanguage(): void {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t(lang, 'documentTitle');
  for (const el of document.querySelectorAll<HTMLElement>('[data-i18n]')) {
    el.textContent = t(lang, el.dataset.i18n as StringKey);
  }
  const toggle = $('lang-toggle');
  toggle.textContent = t(lang, 'switchLanguage');
  toggle.setAttribute('aria-label', t(lang, 'switchLanguageLabel'));
  toggle.lang = lang === 'zh' ? 'en' : 'zh-CN';
  updateCodeHint();
  for (const [id, text] of transient) setText(id, text());
  if (current) render(current, false);
  if (lastError) renderError(lastError, false);
  if (lastDevices) renderDevices(lastDevices);
}

function setBusy(busy: boolean, message = ''): void {
  const form = $('activate-form');
  form.setAttribute('aria-busy', String(busy));
  for (const id of ['activate-button', 'save-request', 'import-license', 'code']) {
    ($(id) as HTMLButtonElement | HTMLInputElement).disabled = busy;
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>('#device-list button')) b.disabled = busy;
  show('progress', busy);
  setText('progress-text', message);
}

// ---- status ---------------------------------------------------------------------------------------------

function render(view: LicenseView, moveFocus: boolean): void {
  const previous = current ? viewFor(current) : null;
  current = view;
  show('loading', false);
  const which = viewFor(view);
  show('activate-view', which === 'activate');
  show('status-view', which === 'status');
  if (which === 'status') renderStatus(view);
  else renderActivationNotice(view);
  if (moveFocus && previous !== which) $(which === 'status' ? 'status-heading' : 'activate-heading').focus();
}

function renderActivationNotice(view: LicenseView): void {
  // NO_LICENSE is the normal first run: the intro says everything. Anything else (tampered state…) is shown.
  const needsNotice = view.code !== 'NO_LICENSE';
  show('current-status', needsNotice);
  if (needsNotice) {
    const s = statusText(view.code, lang);
    setText('current-status-title', s.title);
    setText('current-status-action', s.action);
  }
}

function renderStatus(view: LicenseView): void {
  const badge = $('status-badge');
  badge.className = view.valid ? 'badge' : 'badge bad';
  badge.textContent = view.valid ? t(lang, 'valid') : t(lang, 'invalid');
  if (view.license?.test) {
    const test = document.createElement('span');
    test.className = 'test';
    test.textContent = `(${t(lang, 'testLicense')})`;
    badge.append(test);
  }
  for (const fact of statusFacts(view, lang)) setText(fact.id, fact.text);

  const notice = statusNotice(view, lang);
  show('status-notice', notice !== null);
  if (notice) {
    setText('status-notice-title', notice.title);
    setText('status-notice-detail', notice.detail);
    setText('status-notice-action', notice.action);
  }
  show('open-app', view.valid);
  show('another-code', !view.valid);
  ($('check-in') as HTMLButtonElement).disabled = view.device.activationId === null;
  show('deactivate', view.device.activationId !== null);
}

// ---- errors and seats -----------------------------------------------------------------------------------

/** One sentence, one detail line, one next step (messages.activationErrorText), in the current language. */
function renderError(error: ErrorView, moveFocus: boolean): void {
  lastError = error;
  const m = activationErrorText(
    {
      code: error.code,
      ...(attemptedCode ? { licenseCode: attemptedCode } : {}),
      ...(error.seats !== undefined ? { seats: error.seats } : {}),
      ...(error.devices ? { devices: error.devices.map((d) => ({ id: d.id, name: deviceName(d, lang) })) } : {}),
      serverMessage: error.message,
    },
    lang,
    'window',
  );
  setText('error-title', m.title);
  setText('error-detail', m.detail);
  setText('error-action', m.action);
  show('error', true);
  if (error.code === 'SERVER_UNREACHABLE') ($('offline') as HTMLDetailsElement).open = true;
  if (moveFocus) $('error').focus();
}

function clearError(): void {
  lastError = null;
  show('error', false);
}

function renderDevices(view: DevicesView): void {
  lastDevices = view;
  const list = $('device-list');
  list.replaceChildren();
  // The error above already says the seats are taken; this line only speaks when none is held any more.
  const others = view.devices.filter((d) => !d.current);
  setText('devices-intro', others.length > 0 || transient.get('devices-status')?.() ? '' : t(lang, 'noDevices'));
  for (const d of view.devices) {
    const li = document.createElement('li');
    const info = document.createElement('div');
    const name = document.createElement('div');
    name.className = 'device-name';
    name.textContent = deviceName(d, lang) + (d.current ? ` (${t(lang, 'thisDevice')})` : '');
    const meta = document.createElement('div');
    meta.className = 'muted';
    const seen = formatDate(d.lastSeenAt, lang, true) ?? d.lastSeenAt;
    meta.textContent = [d.platform, t(lang, 'lastSeen', { date: seen })].filter(Boolean).join(' · ');
    info.append(name, meta);
    li.append(info);
    if (!d.current) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.textContent = t(lang, 'freeSeatShort');
      button.setAttribute('aria-label', t(lang, 'freeSeat', { name: deviceName(d, lang) }));
      button.dataset.deviceId = d.id;
      button.addEventListener('click', () => void freeSeat(d.id, deviceName(d, lang)));
      li.append(button);
    }
    list.append(li);
  }
  const tr = view.transfers;
  setText(
    'devices-note',
    tr.limit > 0 ? tn(lang, 'transfersLeft', tr.periodDays, { used: tr.used, limit: tr.limit }) : '',
  );
  show('devices', true);
}

function hideDevices(): void {
  lastDevices = null;
  show('devices', false);
  say('devices-status', () => '');
}

async function freeSeat(id: string, name: string): Promise<void> {
  setBusy(true, t(lang, 'freeing'));
  const r = await api.releaseDevice(attemptedCode, id);
  setBusy(false);
  if (!r.ok) {
    renderError(r.error, true);
    return;
  }
  clearError();
  say('devices-status', () => t(lang, 'freed', { name }));
  renderDevices(r.value);
  $('activate-button').focus();
}

// ---- actions --------------------------------------------------------------------------------------------

function updateCodeHint(): { normalized: string; block: boolean } {
  const input = $('code') as HTMLInputElement;
  const fb = codeFeedback(input.value, lang);
  setText('code-hint', input.value.trim() === '' ? '' : fb.message);
  input.setAttribute('aria-invalid', String(input.value.trim() !== '' && fb.block));
  return fb;
}

/** The code to send, or null (with the reason shown under the field) when it cannot be right. */
function codeToSend(): string | null {
  const input = $('code') as HTMLInputElement;
  const fb = updateCodeHint();
  if (input.value.trim() === '') {
    setText('code-hint', t(lang, 'needCode'));
    input.setAttribute('aria-invalid', 'true');
  }
  if (fb.block) {
    input.focus();
    return null;
  }
  input.value = fb.normalized;
  return fb.normalized;
}

async function activate(): Promise<void> {
  const code = codeToSend();
  if (code === null) return;
  attemptedCode = code;
  clearError();
  hideDevices();
  setBusy(true, t(lang, 'activating'));
  const r = await api.activate(code);
  setBusy(false);
  if (r.ok) {
    render(r.value, true);
    return;
  }
  renderError(r.error, true);
  if (r.error.code === 'TOO_MANY_DEVICES') {
    if (r.error.devices) {
      renderDevices({
        seats: r.error.seats ?? r.error.devices.length,
        devices: r.error.devices,
        transfers: { used: 0, limit: 0, periodDays: 0 },
      });
    }
    // The full list (with the transfer allowance) comes from the seats API.
    const list = await api.listDevices(code);
    if (list.ok) renderDevices(list.value);
  }
}

async function saveRequest(): Promise<void> {
  const code = codeToSend();
  if (code === null) {
    say('offline-status', () => t(lang, 'needCode'));
    return;
  }
  setBusy(true, t(lang, 'working'));
  const r = await api.createOfflineRequest(code);
  setBusy(false);
  if (!r.ok) return renderError(r.error, true);
  const { saved, fileName } = r.value;
  say('offline-status', () => (saved ? t(lang, 'requestSaved', { file: fileName ?? '' }) : t(lang, 'requestNotSaved')));
}

async function importLicense(): Promise<void> {
  setBusy(true, t(lang, 'working'));
  const r = await api.importLicenseFile();
  setBusy(false);
  if (!r.ok) return renderError(r.error, true);
  if (r.value) {
    clearError();
    render(r.value, true);
  }
}

async function checkIn(): Promise<void> {
  const button = $('check-in') as HTMLButtonElement;
  button.disabled = true;
  say('status-progress', () => t(lang, 'checkingIn'));
  const r = await api.checkIn();
  button.disabled = false;
  if (!r.ok) {
    const { code } = r.error;
    say('status-progress', () => describeStatus(code, lang));
    return;
  }
  render(r.value, false);
  const valid = r.value.valid;
  say('status-progress', () => (valid ? t(lang, 'checkedIn') : ''));
}

function askDeactivate(ask: boolean): void {
  show('deactivate', !ask);
  show('deactivate-confirm-group', ask);
  if (ask) $('deactivate-cancel').focus();
  else $('deactivate').focus();
}

async function deactivate(): Promise<void> {
  say('status-progress', () => t(lang, 'working'));
  const r = await api.deactivate();
  show('deactivate-confirm-group', false);
  if (!r.ok) {
    show('deactivate', true);
    const { code } = r.error;
    say('status-progress', () => describeStatus(code, lang));
    return;
  }
  say('status-progress', () => '');
  render(r.value, true);
  say('offline-status', () => '');
  say('activate-intro', () => t(lang, 'deactivated'));
}

function useAnotherCode(): void {
  if (!current) return;
  // Shows the activation form while keeping the current status visible in its notice.
  show('status-view', false);
  show('activate-view', true);
  renderActivationNotice(current);
  $('code').focus();
}

function wire(): void {
  const input = $('code') as HTMLInputElement;
  input.addEventListener('input', () => updateCodeHint());
  input.addEventListener('paste', (event) => {
    const text = event.clipboardData?.getData('text/plain');
    if (text === undefined) return;
    event.preventDefault();
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    const merged = input.value.slice(0, start) + text + input.value.slice(end);
    input.value = cleanPastedCode(merged);
    updateCodeHint();
  });
  $('activate-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void activate();
  });
  $('save-request').addEventListener('click', () => void saveRequest());
  $('import-license').addEventListener('click', () => void importLicense());
  $('check-in').addEventListener('click', () => void checkIn());
  $('open-app').addEventListener('click', () => void api.openApp());
  $('another-code').addEventListener('click', useAnotherCode);
  $('deactivate').addEventListener('click', () => askDeactivate(true));
  $('deactivate-cancel').addEventListener('click', () => askDeactivate(false));
  $('deactivate-confirm').addEventListener('click', () => void deactivate());
  $('lang-toggle').addEventListener('click', () => {
    lang = lang === 'en' ? 'zh' : 'en';
    try {
      localStorage.setItem(LANG_KEY, lang);
    } catch {
      // Storage may be unavailable (sandboxed or private); the toggle still works for this window.
    }
    applyLanguage();
  });
  // Escape cancels a pending deactivation confirmation.
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !$('deactivate-confirm-group').hidden) askDeactivate(false);
  });
  api.onStatusChange((view) => render(view, false));
}

async function start(): Promise<void> {
  wire();
  applyLanguage();
  const r = await api.status();
  if (r.ok) render(r.value, false);
  else {
    show('loading', false);
    show('activate-view', true);
    renderError(r.error, false);
  }
  if (!$('activate-view').hidden) $('code').focus();
}

void start();
