/**
 * The activation-API client: every request carries a fresh `Licensor-Nonce` (and, for device actions, a
 * `Licensor-Device-Signature`); every response must carry a `Licensor-Signature` for that nonce by a signing
 * key whose certificate chains to a pinned root. Bodies are validated with the shared zod schemas.
 */
import type { KeyObject } from 'node:crypto';
import {
  type AnsweredRequest,
  apiErrorSchema,
  DEVICE_SIGNATURE_HEADER,
  fetchFailureCause,
  isLicensorCode,
  keyIdOf,
  keysResponseSchema,
  LicensorError,
  newNonce,
  REQUEST_NONCE_HEADER,
  RESPONSE_SIGNATURE_HEADER,
  type SignedRevocationList,
  signDeviceRequest,
  verifyCertificateChain,
  verifyResponse,
} from '@licensor/shared';
import type { z } from 'zod';

export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
/** Real answers are a few kilobytes; anything far larger is not from a Licensor server. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const PEM_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export interface ApiClientOptions {
  serverUrl: string;
  /** Pinned root certificate PEMs. */
  roots: string[];
  fetch?: typeof fetch;
  now?: () => number;
  timeoutMs?: number;
  /** Called with the root-signed revoked-key list an authentic answer carried (check-in, GET /keys). */
  onRevocations?: (signed: SignedRevocationList) => void;
}

export interface ApiRequest<T> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path from the API root, e.g. `/api/v1/activations` (also the path that device signatures cover). */
  path: string;
  body?: unknown;
  schema: z.ZodType<T>;
  device?: { activationId: string; privateKey: KeyObject };
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  /** The server's signed response time (ms): trusted time for the high-water mark. */
  serverTs: number;
}

/** Hosts that never leave this machine: the only ones a plain-http server URL may name. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Base URL without trailing slash. Only https:// is accepted, and http:// for this machine (loopback: a local
 * test server): in clear text an on-path attacker sees every code and device and can withhold any answer.
 */
export function normalizeServerUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LicensorError('INVALID_INPUT', `"${url}" is not a URL; use e.g. https://license.example.com`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new LicensorError('INVALID_INPUT', `The server URL must start with https:// (got ${parsed.protocol})`);
  }
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
    throw new LicensorError(
      'INVALID_INPUT',
      `The server URL ${parsed.origin} uses plain http://, which anyone on the network path can read and alter. Use https://${parsed.host} (http:// is accepted only for this machine: localhost, 127.0.0.1, [::1]).`,
    );
  }
  if (parsed.username || parsed.password || parsed.search || parsed.hash) {
    throw new LicensorError('INVALID_INPUT', 'The server URL must not contain credentials, a query or a fragment');
  }
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** fetch rejected: not a byte of an answer arrived for this request (the original error is the cause). */
class NoAnswer extends Error {
  constructor(cause: unknown) {
    super('no answer', { cause });
  }
}

/**
 * Socket failures of an open connection (fetch's `cause`): reset by the peer, closed by the peer, or written to
 * after the peer closed it. Worth one retry on a new connection. Not here: timeouts, DNS failures (ENOTFOUND,
 * EAI_AGAIN), refused or unreachable hosts (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH): those mean offline.
 */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function connectionLost(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === 'string' && CONNECTION_LOST.has(code);
}

export class ApiClient {
  readonly serverUrl: string;
  readonly #roots: string[];
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  /** Verified signing keys by key id (from GET /api/v1/keys and from License files' x5c). */
  readonly #keys = new Map<string, KeyObject>();
  readonly #onRevocations: ApiClientOptions['onRevocations'];
  #revoked: ReadonlySet<string> = new Set();

  constructor(opts: ApiClientOptions) {
    this.serverUrl = normalizeServerUrl(opts.serverUrl);
    this.#roots = opts.roots;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#now = opts.now ?? Date.now;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#onRevocations = opts.onRevocations;
  }

  /** Signing keys the root revoked: never used to verify an answer again. */
  setRevokedKeys(keyIds: Iterable<string>): void {
    this.#revoked = new Set(keyIds);
    for (const id of this.#revoked) this.#keys.delete(id);
  }

  /** Trusts the leaf of a certificate chain (leaf first) if it chains to a pinned root and is valid now. */
  trustChain(chain: string[]): boolean {
    try {
      const leaf = verifyCertificateChain(chain, this.#roots, new Date(this.#now()));
      const keyId = keyIdOf(leaf.publicKey);
      if (this.#revoked.has(keyId)) return false;
      this.#keys.set(keyId, leaf.publicKey);
      return true;
    } catch {
      return false;
    }
  }

  /** Fetches the server's signing certificates and keeps those that chain to a pinned root. */
  async refreshKeys(): Promise<void> {
    const { status, bytes, signature, nonce } = await this.#exchange('GET', '/api/v1/keys', undefined, undefined);
    if (!signature) throw this.#unsigned(status);
    const parsed = keysResponseSchema.safeParse(this.#json(bytes));
    if (status !== 200 || !parsed.success) {
      throw new LicensorError(
        'RESPONSE_INVALID',
        'The server did not return its signing certificates (GET /api/v1/keys)',
        {
          httpStatus: status,
        },
      );
    }
    for (const { keyId, certificatePem } of parsed.data.signing) {
      const chain = certificatePem.match(PEM_BLOCKS) ?? [];
      try {
        const leaf = verifyCertificateChain(chain, this.#roots, new Date(this.#now()));
        // The listed id must be the certificate's own, or a certificate could be filed under another key's id.
        if (keyIdOf(leaf.publicKey) === keyId && !this.#revoked.has(keyId)) this.#keys.set(keyId, leaf.publicKey);
      } catch {
        // Not ours, expired or malformed: never used to verify anything.
      }
    }
    // The list itself is authentic only if signed by one of the keys it vouches for (each rooted above).
    this.#verify({ method: 'GET', path: '/api/v1/keys' }, status, nonce, bytes, signature);
    if (parsed.data.revoked) this.#onRevocations?.(parsed.data.revoked);
  }

  async request<T>(req: ApiRequest<T>): Promise<ApiResponse<T>> {
    const bodyText = req.body === undefined ? undefined : JSON.stringify(req.body);
    const { status, bytes, signature, nonce } = await this.#exchange(req.method, req.path, bodyText, req.device);
    if (!signature) throw this.#unsigned(status);
    let serverTs: number;
    const seen = { unknownKey: false };
    // The answer must be signed for this very request: an answer to another endpoint or activation is refused.
    const answered = { method: req.method, path: req.path, activationId: req.device?.activationId ?? '' };
    try {
      serverTs = this.#verify(answered, status, nonce, bytes, signature, seen);
    } catch (err) {
      // A key rotated since we last looked: fetch the current list once, then verify again.
      if (!seen.unknownKey) throw err;
      await this.refreshKeys();
      serverTs = this.#verify(answered, status, nonce, bytes, signature);
    }
    const json = this.#json(bytes);
    if (status >= 200 && status < 300) {
      const parsed = req.schema.safeParse(json);
      if (!parsed.success) {
        throw new LicensorError('RESPONSE_INVALID', `Unexpected answer from ${req.method} ${req.path}`, {
          issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
        });
      }
      const revoked = (parsed.data as { revokedKeys?: SignedRevocationList } | null)?.revokedKeys;
      if (revoked) this.#onRevocations?.(revoked);
      return { data: parsed.data, status, serverTs };
    }
    const error = apiErrorSchema.safeParse(json);
    if (!error.success) {
      throw new LicensorError('RESPONSE_INVALID', `The server answered HTTP ${status} without an error description`, {
        httpStatus: status,
      });
    }
    const { code, message, detail } = error.data.error;
    throw new LicensorError(isLicensorCode(code) ? code : 'INTERNAL', message, {
      ...detail,
      httpStatus: status,
      ...(isLicensorCode(code) ? {} : { serverCode: code }),
    });
  }

  /**
   * Sends one request and reads its answer, retrying exactly once when the connection died under the request
   * before any answer arrived (see {@link connectionLost}). fetch keeps an idle keep-alive socket for a few
   * seconds; a laptop that slept in between, or a server or proxy that closes idle connections early, leaves that
   * socket dead at our end, and the first request on it fails although the server is up. fetch has dropped the
   * dead socket by the time it rejects, so the retry opens a new connection (a LicenseManager sends one request at
   * a time, so there is normally no second idle socket to the server that the retry could pick up instead).
   *
   * One retry is safe: it is a new request (a new nonce and a new device signature; the server refuses a replayed
   * nonce), and if the first copy did reach the server before the connection died, doing it again changes nothing:
   * activation is idempotent per device (the same fingerprint and key get the same activation back, `reactivated`),
   * a check-in carries a fresh nonce and only reads the verdict and reissues the file, deactivation takes NOT_FOUND
   * as done, and releasing a seat that is already free answers `released: false`. Nothing else is retried: not a
   * timeout (the one deadline covers both attempts), not an HTTP answer of any status, not a DNS failure or a
   * refused connection (offline: a retry only adds delay), not a failure after the answer's headers arrived.
   */
  async #exchange(
    method: string,
    path: string,
    body: string | undefined,
    device: ApiRequest<unknown>['device'],
  ): Promise<{ status: number; bytes: Buffer; signature: string | null; nonce: string }> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    for (let attempt = 1; ; attempt++) {
      const nonce = newNonce();
      try {
        return { ...(await this.#send(method, path, body, nonce, device, signal)), nonce };
      } catch (err) {
        if (!(err instanceof NoAnswer)) throw err;
        if (attempt === 1 && connectionLost(err.cause)) continue;
        throw this.#unreachable(err.cause);
      }
    }
  }

  async #send(
    method: string,
    path: string,
    body: string | undefined,
    nonce: string,
    device: ApiRequest<unknown>['device'],
    signal: AbortSignal,
  ): Promise<{ status: number; bytes: Buffer; signature: string | null }> {
    const headers: Record<string, string> = { accept: 'application/json', [REQUEST_NONCE_HEADER]: nonce };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (device) {
      headers[DEVICE_SIGNATURE_HEADER] = signDeviceRequest({
        activationId: device.activationId,
        method,
        path,
        body: body ?? '',
        privateKey: device.privateKey,
        now: this.#now(),
      });
    }
    const url = this.serverUrl + path;
    let res: Response;
    try {
      res = await this.#fetch(url, { method, headers, body, redirect: 'manual', signal });
    } catch (err) {
      // fetch settles once the answer's headers are in: a rejection here means no answer came at all.
      throw new NoAnswer(err);
    }
    let bytes: Buffer;
    try {
      const length = Number(res.headers.get('content-length') ?? 0);
      if (length > MAX_RESPONSE_BYTES) {
        await res.body?.cancel();
        throw new LicensorError('RESPONSE_INVALID', `The answer from ${url} is too large to be a Licensor response`);
      }
      bytes = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      if (err instanceof LicensorError) throw err;
      throw this.#unreachable(err);
    }
    if (bytes.length > MAX_RESPONSE_BYTES) {
      throw new LicensorError('RESPONSE_INVALID', `The answer from ${url} is too large to be a Licensor response`);
    }
    if (res.status >= 300 && res.status < 400) {
      throw new LicensorError(
        'RESPONSE_INVALID',
        `The server redirected to ${res.headers.get('location') ?? 'another address'}; configure that URL instead`,
        { httpStatus: res.status },
      );
    }
    return { status: res.status, bytes, signature: res.headers.get(RESPONSE_SIGNATURE_HEADER) };
  }

  #unreachable(err: unknown): LicensorError {
    const cause = fetchFailureCause(err);
    return new LicensorError(
      'SERVER_UNREACHABLE',
      `Cannot reach the license server at ${this.serverUrl} (${cause}). Check the internet connection and try again later.`,
      { url: this.serverUrl, cause },
      { cause: err },
    );
  }

  /** Unsigned answers come from something in between (proxy, gateway, captive portal), not from the server. */
  #unsigned(status: number): LicensorError {
    if (status >= 500 || status === 429 || status === 408) {
      return new LicensorError(
        'SERVER_UNREACHABLE',
        `The license server at ${this.serverUrl} is not available right now (HTTP ${status}). Try again later.`,
        { url: this.serverUrl, httpStatus: status },
      );
    }
    return new LicensorError(
      'RESPONSE_INVALID',
      `The answer from ${this.serverUrl} is not signed (HTTP ${status}); check that the URL points to a Licensor server.`,
      { url: this.serverUrl, httpStatus: status },
    );
  }

  #verify(
    request: AnsweredRequest,
    status: number,
    nonce: string,
    bytes: Buffer,
    signature: string,
    seen?: { unknownKey: boolean },
  ): number {
    return verifyResponse({
      header: signature,
      status,
      request,
      nonce,
      body: bytes,
      publicKeyFor: (kid) => {
        const key = this.#keys.get(kid);
        if (!key && seen) seen.unknownKey = true;
        return key;
      },
      now: this.#now(),
    }).ts;
  }

  #json(bytes: Buffer): unknown {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new LicensorError('RESPONSE_INVALID', 'The server answer is not JSON');
    }
  }
}
