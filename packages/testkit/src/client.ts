/**
 * Test fixtures (not exported by the package): a key hierarchy, License files for injected fingerprints, and
 * a small fake activation server on 127.0.0.1 that signs its responses like the real one.
 */

import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FingerprintReadings, fingerprintFromReadings, type MachineFingerprint } from '@licensor/client';
import {
  activateRequestSchema,
  type CertifiedKey,
  createRootCertificate,
  DEVICE_SIGNATURE_HEADER,
  devicePublicKeyHash,
  deviceSignatureActivation,
  type HashedComponents,
  importDevicePublicKey,
  issueSigningCertificate,
  type LicensePayload,
  LicensorError,
  parseDeviceSignature,
  REQUEST_NONCE_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  signLicense,
  signResponse,
  verifyDeviceRequest,
} from '@licensor/shared';
import { afterAll, expect } from 'vitest';

export const DAY = 86_400_000;
export const PRODUCT = 'prod-test';

export interface Pki {
  root: CertifiedKey;
  signer: CertifiedKey;
  rootPem: string;
}

let cachedPki: Pki | undefined;

/** One root and signing key per test process (key generation and certificates cost a few ms). */
export function pki(): Pki {
  if (!cachedPki) {
    const now = new Date(Date.UTC(2020, 0, 1));
    const root = createRootCertificate({ commonName: 'Test Root', now, validityDays: 36_500 });
    const signer = issueSigningCertificate(root, { commonName: 'Test Signing', now, validityDays: 36_000 });
    cachedPki = { root, signer, rootPem: root.certificatePem };
  }
  return cachedPki;
}

export function otherPki(): Pki {
  const now = new Date(Date.UTC(2020, 0, 1));
  const root = createRootCertificate({ commonName: 'Test Root', now, validityDays: 36_500 });
  const signer = issueSigningCertificate(root, { commonName: 'Test Signing', now, validityDays: 36_000 });
  return { root, signer, rootPem: root.certificatePem };
}

export const BASE_READINGS: FingerprintReadings = {
  machineId: '3d1219c7c4c5404aaa1f6d2a48adfda4',
  hardwareUuid: '4C4C4544-0042-3510-8052-B4C04F4E3132',
  baseboardSerial: '/7B2NR12/CNFCW0012345/',
  cpu: 'GenuineIntel Intel Core i7-12700H (6/154/3)',
  diskSerials: ['S6B0NL0T123456', 'WD-WXA1A23B4567'],
  macs: ['04:7C:16:5E:E3:5D', '3C:A9:F4:12:34:56'],
};

export function machine(overrides: FingerprintReadings = {}): MachineFingerprint {
  return fingerprintFromReadings({ ...BASE_READINGS, ...overrides });
}

export function tempDir(prefix = 'licensor-client-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Temporary folders for one test file: `temp(prefix)` makes a folder in the temporary folder, and every folder it
 * made is removed after the file's tests (afterAll).
 */
export function tempFolders(): (prefix: string) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return (prefix) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}

export function payloadFor(overrides: Partial<LicensePayload> & { now: number }): LicensePayload {
  const { now, ...rest } = overrides;
  return {
    v: 1,
    lid: randomUUID(),
    eid: 'ent-1',
    family: 'direct',
    product: PRODUCT,
    seats: 1,
    fingerprint: null,
    status: 'active',
    issuedAt: new Date(now).toISOString(),
    notBefore: new Date(now).toISOString(),
    expiresAt: new Date(now + 365 * DAY).toISOString(),
    refreshBy: new Date(now + 14 * DAY).toISOString(),
    graceUntil: new Date(now + 21 * DAY).toISOString(),
    serverTime: new Date(now).toISOString(),
    ...rest,
  };
}

export function licenseFor(
  components: HashedComponents | undefined,
  overrides: Partial<LicensePayload> & { now: number },
  signer: CertifiedKey = pki().signer,
): string {
  return signLicense(
    payloadFor({ fingerprint: components ? { rule: { type: 'allButOne' }, components } : null, ...overrides }),
    signer,
  );
}

/** A settable clock. */
export function clock(start: number) {
  let t = start;
  const fn = () => t;
  fn.set = (v: number) => {
    t = v;
  };
  fn.advance = (ms: number) => {
    t += ms;
  };
  return fn;
}

/** Timers the test fires by hand. */
export function manualTimers() {
  const pending = new Map<number, { cb: () => void; ms: number }>();
  let next = 1;
  return {
    pending,
    setTimeout(cb: () => void, ms: number) {
      const id = next++;
      pending.set(id, { cb, ms });
      return id;
    },
    clearTimeout(h: unknown) {
      pending.delete(h as number);
    },
    /** Runs the earliest-scheduled callback; returns its delay. */
    fire(): number | undefined {
      const first = [...pending.entries()][0];
      if (!first) return undefined;
      pending.delete(first[0]);
      first[1].cb();
      return first[1].ms;
    },
  };
}

type CodeStatus = 'active' | 'frozen' | 'expired' | 'suspended' | 'revoked' | 'released';

/** A request as it arrived at the FakeServer (answered or lost). */
export interface FakeRequest {
  method: string;
  path: string;
  /** The request's `Licensor-Nonce` ('' if none). */
  nonce: string;
  /** The nonce inside its `Licensor-Device-Signature`, if it carried one. */
  deviceNonce: string | undefined;
  /** Which TCP connection it came on (1 = the server's first) and how many requests that connection carried. */
  connection: number;
  onConnection: number;
  /** What `loseRequest` did with it instead of answering. */
  lost?: LoseMode;
}

/**
 * How the server loses a request instead of answering it, after reading it whole: `reset` resets the connection
 * (the client sees ECONNRESET), `close` closes it (undici: "other side closed"), `truncate` sends the status,
 * the headers and part of the body, then closes, `hang` never answers (until the client gives up or the server
 * closes).
 */
export type LoseMode = 'reset' | 'close' | 'truncate' | 'hang';

interface FakeActivation {
  id: string;
  code: string;
  publicKey: KeyObject;
  spki: string;
  components: HashedComponents;
  label: string | null;
  hostname: string | null;
  createdAt: string;
}

/**
 * A stand-in for the server's /api/v1 (what the client needs, by the shared contract): it verifies device
 * signatures and signs every response with `signResponse`. Knobs let tests misbehave on purpose.
 */
export class FakeServer {
  url = '';
  /** Codes it knows; `edition` and `features` go into the License like the real server's catalogue puts them. */
  readonly codes = new Map<
    string,
    {
      status: CodeStatus;
      seats: number;
      expiresAt: string | null;
      edition?: string;
      features?: Record<string, true | number>;
    }
  >();
  readonly activations = new Map<string, FakeActivation>();
  /** Device id → license code of each seat freed through the seats API. */
  readonly #releasedSeats = new Map<string, string>();
  readonly requests: FakeRequest[] = [];
  /** TCP connections accepted so far. */
  connections = 0;
  /** Decides, per arriving request, to lose it (see {@link LoseMode}) instead of answering. */
  loseRequest: ((request: FakeRequest) => LoseMode | undefined) | undefined;
  /** Server clock (defaults to real time). */
  now: () => number = Date.now;
  signer: CertifiedKey = pki().signer;
  /** Sign responses with this key instead (a key the client does not trust). */
  rogueSigner: CertifiedKey | undefined;
  /** Shift the response signature timestamp (stale answers). */
  signatureSkewMs = 0;
  /** Sign for a different nonce (a replayed answer). */
  wrongNonce = false;
  /** Change the body after signing. */
  tamperBody = false;
  /** Answer every request with this unsigned status (a proxy in between). */
  unsignedStatus: number | undefined;
  /** Do not send a license file with VALID check-ins. */
  omitLicenseOnCheckIn = false;
  fileTtlDays = 14;
  graceDays = 7;
  checkInIntervalSeconds = 86_400;
  #server: http.Server | undefined;
  readonly #nonces = new Set<string>();

  async start(): Promise<this> {
    const connectionOf = new WeakMap<object, { id: number; requests: number }>();
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      const conn = connectionOf.get(req.socket) ?? { id: 0, requests: 0 };
      conn.requests++;
      const at = { connection: conn.id, onConnection: conn.requests };
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#handle(req, Buffer.concat(chunks), res, at));
    });
    this.#server.on('connection', (socket) => {
      this.connections++;
      connectionOf.set(socket, { id: this.connections, requests: 0 });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    const addr = this.#server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    return this;
  }

  async close(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  #issue(a: FakeActivation, status: CodeStatus): string {
    const now = this.now();
    const code = this.codes.get(a.code)!;
    return signLicense(
      payloadFor({
        now,
        lid: a.id,
        eid: a.code,
        seats: code.seats,
        ...(code.edition ? { edition: code.edition } : {}),
        ...(code.features ? { features: code.features } : {}),
        fingerprint: { rule: { type: 'allButOne' }, components: a.components },
        deviceKey: devicePublicKeyHash(a.spki),
        status,
        expiresAt: code.expiresAt,
        refreshBy: new Date(now + this.fileTtlDays * DAY).toISOString(),
        graceUntil: new Date(now + (this.fileTtlDays + this.graceDays) * DAY).toISOString(),
      }),
      this.signer,
    );
  }

  #entitlement(code: string) {
    const c = this.codes.get(code)!;
    return {
      id: code,
      family: 'direct' as const,
      productId: PRODUCT,
      sku: null,
      edition: c.edition ?? null,
      seats: c.seats,
      status: c.status,
      expiresAt: c.expiresAt,
    };
  }

  #send(req: http.IncomingMessage, res: http.ServerResponse, status: number, value: unknown): void {
    if (this.unsignedStatus !== undefined) {
      res.writeHead(this.unsignedStatus, { 'content-type': 'text/html' });
      res.end('<html>Bad gateway</html>');
      return;
    }
    const body = JSON.stringify(value);
    const nonce = String(req.headers[REQUEST_NONCE_HEADER] ?? '');
    const signer = this.rogueSigner ?? this.signer;
    const signature = signResponse({
      status,
      request: {
        method: req.method ?? 'GET',
        path: (req.url ?? '').split('?')[0]!,
        activationId: deviceSignatureActivation(req.headers[DEVICE_SIGNATURE_HEADER] as string | undefined),
      },
      nonce: this.wrongNonce ? `${nonce.slice(0, -1)}${nonce.endsWith('0') ? '1' : '0'}` : nonce,
      body,
      keyId: signer.keyId,
      privateKey: signer.privateKey,
      now: this.now() + this.signatureSkewMs,
    });
    res.writeHead(status, { 'content-type': 'application/json', [RESPONSE_SIGNATURE_HEADER]: signature });
    res.end(this.tamperBody ? body.replace('"', ' "') : body);
  }

  #error(req: http.IncomingMessage, res: http.ServerResponse, err: LicensorError): void {
    this.#send(req, res, err.httpStatus, { error: err.toJSON() });
  }

  #deviceAuth(req: http.IncomingMessage, raw: Buffer, path: string, id: string): FakeActivation {
    const a = this.activations.get(id);
    if (!a) throw new LicensorError('NOT_FOUND', 'No such activation');
    const signature = parseDeviceSignature(req.headers[DEVICE_SIGNATURE_HEADER] as string | undefined);
    if (signature.activationId !== id) throw new LicensorError('UNAUTHORIZED', 'Signature is for another activation');
    if (this.#nonces.has(signature.nonce)) throw new LicensorError('REPLAYED', 'Nonce already used');
    verifyDeviceRequest({ signature, method: req.method!, path, body: raw, publicKey: a.publicKey, now: this.now() });
    this.#nonces.add(signature.nonce);
    return a;
  }

  #handle(
    req: http.IncomingMessage,
    raw: Buffer,
    res: http.ServerResponse,
    at: { connection: number; onConnection: number },
  ): void {
    const path = (req.url ?? '').split('?')[0]!;
    const deviceSignature = req.headers[DEVICE_SIGNATURE_HEADER] as string | undefined;
    const request: FakeRequest = {
      method: req.method ?? '',
      path,
      nonce: String(req.headers[REQUEST_NONCE_HEADER] ?? ''),
      deviceNonce: deviceSignature ? /\bnonce=([^,\s]+)/.exec(deviceSignature)?.[1] : undefined,
      ...at,
    };
    this.requests.push(request);
    const lose = this.loseRequest?.(request);
    if (lose) {
      request.lost = lose;
      if (lose === 'reset') req.socket.resetAndDestroy();
      else if (lose === 'close') req.socket.destroy();
      else if (lose === 'truncate') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write('{"status":');
        req.socket.end();
      }
      return;
    }
    try {
      const [status, body] = this.#route(req, raw, path);
      this.#send(req, res, status, body);
    } catch (err) {
      this.#error(req, res, err instanceof LicensorError ? err : new LicensorError('INTERNAL', String(err)));
    }
  }

  #route(req: http.IncomingMessage, raw: Buffer, path: string): [number, unknown] {
    const json = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
    const checkIn = path.match(/^\/api\/v1\/activations\/([^/]+)\/check-in$/);
    const one = path.match(/^\/api\/v1\/activations\/([^/]+)$/);
    const release = path.match(/^\/api\/v1\/seats\/devices\/([^/]+)\/release$/);

    if (req.method === 'GET' && path === '/api/v1/keys') {
      return [
        200,
        {
          current: this.signer.keyId,
          signing: [{ keyId: this.signer.keyId, certificatePem: this.signer.certificatePem }],
        },
      ];
    }
    if (req.method === 'POST' && path === '/api/v1/activations') {
      const parsed = activateRequestSchema.safeParse(json);
      if (!parsed.success) throw new LicensorError('INVALID_INPUT', parsed.error.issues[0]!.message);
      const r = parsed.data;
      const code = this.codes.get(r.code);
      if (!code) throw new LicensorError('NOT_FOUND', `Unknown license code ${r.code}`);
      if (code.status !== 'active') {
        throw new LicensorError(code.status.toUpperCase() as 'FROZEN', `License is ${code.status}`);
      }
      let a = [...this.activations.values()].find((x) => x.code === r.code && x.spki === r.devicePublicKey);
      const reactivated = Boolean(a);
      if (!a) {
        const used = [...this.activations.values()].filter((x) => x.code === r.code);
        if (used.length >= code.seats) {
          throw new LicensorError('TOO_MANY_DEVICES', 'All seats are in use', {
            devices: used.map((x) => ({ id: x.id, label: x.label, hostname: x.hostname })),
          });
        }
        a = {
          id: randomUUID(),
          code: r.code,
          publicKey: importDevicePublicKey(r.devicePublicKey),
          spki: r.devicePublicKey,
          components: r.fingerprint.components,
          label: r.device.label ?? null,
          hostname: r.device.hostname ?? null,
          createdAt: new Date(this.now()).toISOString(),
        };
        this.activations.set(a.id, a);
      }
      return [
        201,
        {
          activationId: a.id,
          license: this.#issue(a, 'active'),
          status: 'VALID',
          entitlement: this.#entitlement(r.code),
          checkInIntervalSeconds: this.checkInIntervalSeconds,
          serverTime: new Date(this.now()).toISOString(),
          reactivated,
        },
      ];
    }
    if (req.method === 'POST' && checkIn) {
      const a = this.#deviceAuth(req, raw, path, decodeURIComponent(checkIn[1]!));
      const code = this.codes.get(a.code)!;
      const verdict = code.status === 'active' ? 'VALID' : code.status.toUpperCase();
      const license =
        code.status === 'revoked' || code.status === 'released' || (verdict === 'VALID' && this.omitLicenseOnCheckIn)
          ? undefined
          : this.#issue(a, code.status);
      return [
        200,
        {
          status: verdict,
          message: verdict === 'VALID' ? 'OK' : `The license is ${code.status}`,
          ...(license ? { license } : {}),
          entitlement: this.#entitlement(a.code),
          checkInIntervalSeconds: this.checkInIntervalSeconds,
          serverTime: new Date(this.now()).toISOString(),
        },
      ];
    }
    if (req.method === 'DELETE' && one) {
      const a = this.#deviceAuth(req, raw, path, decodeURIComponent(one[1]!));
      this.activations.delete(a.id);
      return [200, { released: true }];
    }
    if (req.method === 'POST' && path === '/api/v1/seats/devices') {
      const code = json?.code;
      if (!this.codes.has(code)) throw new LicensorError('NOT_FOUND', 'Unknown license code');
      const devices = [...this.activations.values()]
        .filter((x) => x.code === code)
        .map((x) => ({
          id: x.id,
          label: x.label,
          hostname: x.hostname,
          platform: null,
          lastSeenAt: x.createdAt,
          firstSeenAt: x.createdAt,
        }));
      return [200, { seats: this.codes.get(code)!.seats, devices, transfers: { used: 0, limit: 3, periodDays: 30 } }];
    }
    if (req.method === 'POST' && release) {
      const id = decodeURIComponent(release[1]!);
      // As the server: releasing a seat already freed (by this code) answers released: false.
      if (this.#releasedSeats.get(id) === json?.code) return [200, { released: false }];
      const a = this.activations.get(id);
      if (!a || a.code !== json?.code) throw new LicensorError('NOT_FOUND', 'No such device for this code');
      this.activations.delete(a.id);
      this.#releasedSeats.set(a.id, a.code);
      return [200, { released: true }];
    }
    throw new LicensorError('NOT_FOUND', 'No such endpoint');
  }
}

/** Awaits a promise that must reject with a LicensorError, and returns that error. */
export async function rejects(p: Promise<unknown>): Promise<LicensorError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LicensorError);
    return err as LicensorError;
  }
  throw new Error('expected a rejection');
}

/** What a promise came to, as a comparable value: 'resolved', or the code of the error it rejected with. */
export const settledCode = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code,
  );
