import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { formatCompactTime } from '@licensor/server';
import { DEVICE_SIGNATURE_HEADER, schemeAAuthToken, schemeBSignature, signDeviceRequest } from '@licensor/shared';
import { builtServerArgs } from '@licensor/testkit/instances';
import { freePort, schemeATimestamp } from '@licensor/testkit/server';

/**
 * What the reliability tests share: the real server as a child process (npm start's entry point) and the
 * three kinds of callers — the marketplace (scheme A GETs, scheme B POSTs), operators (admin API) and
 * devices (activation, signed check-ins) — speaking plain HTTP like the real ones.
 */

export const ROOT = join(import.meta.dirname, '..', '..');
export const PRODUCE = '/api/koogallery/produce';
export const KOO_KEY = 'KEY';
export const ACCESS_KEY = 'ACCESSKEY';
export const AK = 'AK';
export const SK = 'SK';
export const ADMIN_TOKEN = 'crash-admin-token-5d1f';

export { freePort };

/** Environment of a server child process on `dataDir`, talking to the marketplace simulator at `simUrl`. */
export function serverEnv(port: number, dataDir: string, simUrl: string, extra: Record<string, string> = {}) {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    LICENSOR_DATA_DIR: dataDir,
    LICENSOR_KOO_KEY: KOO_KEY,
    LICENSOR_KOO_ACCESS_KEY: ACCESS_KEY,
    LICENSOR_KOO_AK: AK,
    LICENSOR_KOO_SK: SK,
    LICENSOR_KOO_API_BASE: simUrl,
    LICENSOR_ADMIN_TOKEN: ADMIN_TOKEN,
    LICENSOR_API_RATE_LIMIT: '0',
    LICENSOR_PRODUCE_RATE_LIMIT: '0',
    ...extra,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ServerProcess {
  proc: ChildProcess;
  url: string;
  /** Everything the process printed (stdout and stderr), for secret checks and failure reports. */
  output: string[];
  exited: Promise<number | null>;
}

/**
 * Starts the server (its built entry point, as `npm start` runs it; testkit builds it when stale) and resolves once
 * /healthz answers. Not the sources through tsx: that compiled the server again in every process, about 2 s of CPU
 * each, and the crash test alone starts four.
 */
export async function spawnServer(env: Record<string, string>, timeoutMs = 30_000): Promise<ServerProcess> {
  const proc = spawn(process.execPath, await builtServerArgs(), {
    cwd: ROOT,
    env: { ...process.env, LICENSOR_LOG_LEVEL: 'warn', LICENSOR_SCHEDULER: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    if (output.length > 2000) output.splice(0, 1000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${env.PORT}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`server exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${output.join('')}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return { proc, url, output, exited };
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`server did not answer /healthz within ${timeoutMs} ms:\n${output.join('')}`);
}

/** A transport failure (the server is down or died mid-request), as opposed to an answer. */
export class Unanswered extends Error {}

export interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown>;
  headers: Headers;
}

/** Helpers of the stampede tests (many concurrent requests, then count the answers). */
export const uid = () => randomBytes(5).toString('hex').toUpperCase();
export const all = <T>(n: number, fn: (i: number) => Promise<T>) =>
  Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
/** How many answers fall under each key. */
export const tally = (answers: Answer[], key: (a: Answer) => string) => {
  const out: Record<string, number> = {};
  for (const a of answers) out[key(a)] = (out[key(a)] ?? 0) + 1;
  return out;
};
/** The error code of an answer, or its HTTP status when it has none. */
export const errCode = (a: Answer) => String((a.json.error as { code?: string } | undefined)?.code ?? a.status);

/**
 * One HTTP request; a request without an answer (connection refused or reset, or no answer within timeoutMs)
 * throws Unanswered. The 60 s limit is for a machine busy with other work (hundreds of requests at once against a
 * server in the same process can take tens of seconds there); an answered request returns as soon as it is.
 */
export async function call(url: string, init: RequestInit = {}, timeoutMs = 60_000): Promise<Answer> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    throw new Unanswered((err as Error).message);
  }
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // non-JSON answers keep json empty; callers check status/text
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** yyyyMMddHHmmss (UTC), the marketplace's compact time. */
export const compactTime = formatCompactTime;
/** yyyy-MM-dd HH:mm:ss UTC, the getLicenseAsync time form. */
export const spacedTime = (d: Date) => `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;

/** The marketplace side: every call signed as KooGallery signs it, each with a fresh nonce/timestamp. */
export class Marketplace {
  constructor(
    public base: string,
    readonly key = KOO_KEY,
    readonly accessKey = ACCESS_KEY,
  ) {}

  getUrl(params: Record<string, string>): string {
    const all = { ...params, timeStamp: schemeATimestamp() };
    return `${this.base}${PRODUCE}?${new URLSearchParams({ ...all, authToken: schemeAAuthToken(this.key, all) })}`;
  }

  get(params: Record<string, string>): Promise<Answer> {
    return call(this.getUrl(params));
  }

  postUrl(raw: string): string {
    const timestamp = String(Date.now());
    const nonce = randomBytes(12).toString('hex');
    const signature = schemeBSignature(this.accessKey, nonce, timestamp, raw);
    return `${this.base}${PRODUCE}?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`;
  }

  post(body: Record<string, unknown> | string): Promise<Answer> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    return call(this.postUrl(raw), {
      method: 'POST',
      headers: { 'content-type': 'application/json;charset=UTF-8' },
      body: raw,
    });
  }
}

export function admin(base: string, method: string, path: string, body?: unknown, token = ADMIN_TOKEN) {
  return call(`${base}/api/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

/** A desktop install: its own Ed25519 key and hardware fingerprint (hashed components), stable across retries. */
export class Device {
  readonly privateKey: KeyObject;
  readonly spki: string;
  readonly components: Record<string, string[]>;
  readonly keyHash: string;

  constructor(readonly name: string) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    this.spki = publicKey.export({ format: 'der', type: 'spki' }).toString('base64url');
    this.keyHash = createHash('sha256').update(Buffer.from(this.spki, 'base64url')).digest('base64url');
    this.components = {
      machineId: [hash(`machine-${name}`)],
      cpu: [hash(`cpu-${name}`)],
      diskSerials: [hash(`disk-${name}`)],
      macs: [hash(`mac-${name}`)],
    };
  }

  activationBody(code: string): Record<string, unknown> {
    return {
      code,
      fingerprint: { components: this.components },
      devicePublicKey: this.spki,
      device: { hostname: this.name, platform: 'linux', appVersion: '1.0.0' },
    };
  }

  activate(base: string, code: string): Promise<Answer> {
    return call(`${base}/api/v1/activations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'licensor-nonce': randomBytes(16).toString('hex') },
      body: JSON.stringify(this.activationBody(code)),
    });
  }

  /** A device-signed request (check-in, deactivate); a fresh nonce and timestamp each time. */
  signed(base: string, method: string, activationId: string, path: string, body: string): Promise<Answer> {
    const signature = signDeviceRequest({ activationId, method, path, body, privateKey: this.privateKey });
    return call(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', [DEVICE_SIGNATURE_HEADER]: signature },
      body: method === 'GET' ? undefined : body,
    });
  }

  checkIn(base: string, activationId: string): Promise<Answer> {
    const path = `/api/v1/activations/${activationId}/check-in`;
    return this.signed(base, 'POST', activationId, path, JSON.stringify({ appVersion: '1.0.1' }));
  }
}
