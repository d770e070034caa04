import { createHash, randomBytes } from 'node:crypto';
import { fetchFailureCause, LicensorError, signAkSk } from '@licensor/shared';
import type { Config } from '../config';
import type { MessageLog } from './messageLog';
import { FILE_API, LICENSE_API_PREFIX, ORDER_API } from './resultCodes';

const PREFIX = '/api/mkp-openapi-public/global';

export interface LicenseCodeInfo {
  license_code?: string;
  status?: 'ALIVE' | 'EXPIRED' | 'RELEASED' | string;
  activate_time?: string;
  expire_time?: string;
  product_id?: string;
  order_id?: string;
  amount?: number | string;
  [more: string]: unknown;
}

export interface LicenseApiResult<T = unknown> {
  errorCode: string;
  errorMsg: string;
  data: T | undefined;
}

export interface OrderLine {
  orderLineId: string;
  chargingMode?: string;
  periodType?: string;
  periodNumber?: number;
  expireTime?: string;
  productInfo?: { productId?: string; skuCode?: string; linearValue?: number; productName?: string }[];
  [more: string]: unknown;
}

export interface OrderInfo {
  orderId: string;
  orderType?: string;
  createTime?: string;
  orderLine?: OrderLine[];
  buyerInfo?: { customerId?: string; customerName?: string; [more: string]: unknown };
  [more: string]: unknown;
}

export interface UsageEntry {
  license: string;
  software_usage_Info: ({ id: string } | { active_num: number })[];
}

interface CallOptions {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: Uint8Array;
  contentType?: string;
  activity: string;
  ids?: { code?: string; orderId?: string; eventId?: string; entitlementId?: string };
}

/** "fetch failed (ECONNREFUSED)": undici's own message says only that it failed; the reason is in its cause. */
function transportFailure(err: unknown): string {
  const message = (err as Error)?.message || 'network error';
  const cause = fetchFailureCause(err);
  return cause === message ? message : `${message} (${cause})`;
}

/** Network-level failures after which the fallback host is worth a try (spec 2.1). */
function isConnectionFailure(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code ?? '');
}

/**
 * Client of KooGallery's open APIs, signed with AK/SK (SDK-HMAC-SHA256). TLS certificates are always
 * verified (Node's default; nothing here disables it). Transport failures and 5xx answers become
 * MARKETPLACE_UNAVAILABLE (retryable, the outbox tries again); authentication and parameter rejections
 * become MARKETPLACE_REJECTED (permanent). Business result codes of the license APIs are returned, not thrown.
 */
export class OpenApiClient {
  constructor(
    private readonly config: Config['koo'],
    private readonly messages?: MessageLog,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  get configured(): boolean {
    return Boolean(this.config.ak && this.config.sk);
  }

  private async call(opts: CallOptions): Promise<{ status: number; json: Record<string, unknown> }> {
    if (!this.config.ak || !this.config.sk) {
      throw new LicensorError(
        'MARKETPLACE_UNAVAILABLE',
        'The marketplace open API is not configured: set LICENSOR_KOO_AK and LICENSOR_KOO_SK',
      );
    }
    const started = performance.now();
    const bases = [this.config.apiBase, ...(this.config.apiFallback ? [this.config.apiFallback] : [])];
    let lastError: unknown;
    for (const base of bases) {
      const url = new URL(base + PREFIX + opts.path);
      for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
      const body = opts.body ?? new Uint8Array();
      const signed = signAkSk({
        method: opts.method,
        url: url.toString(),
        headers: { 'Content-Type': opts.contentType ?? 'application/json' },
        body,
        ak: this.config.ak,
        sk: this.config.sk,
      });
      try {
        const res = await this.fetchImpl(url, {
          method: opts.method,
          headers: signed.headers,
          body: opts.method === 'GET' ? undefined : body,
          signal: AbortSignal.timeout(this.config.timeoutMs),
        });
        const text = await res.text();
        let json: Record<string, unknown> = {};
        try {
          json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          json = { unparsable: text.slice(0, 200) };
        }
        const resultCode = String(json.error_code ?? json.resultCode ?? '');
        this.log(opts, started, res.status, resultCode, res.ok ? null : text.slice(0, 300));
        if (res.status >= 500 || res.status === 429) {
          throw new LicensorError(
            'MARKETPLACE_UNAVAILABLE',
            `Marketplace answered HTTP ${res.status} (${resultCode})`,
            {
              httpStatus: res.status,
              resultCode,
            },
          );
        }
        if (res.status === 401 || res.status === 403) {
          throw new LicensorError(
            'MARKETPLACE_REJECTED',
            `Marketplace refused the credentials (HTTP ${res.status} ${resultCode}); check LICENSOR_KOO_AK/SK and the server clock`,
            { httpStatus: res.status, resultCode },
          );
        }
        return { status: res.status, json };
      } catch (err) {
        if (err instanceof LicensorError) throw err;
        lastError = err;
        this.log(opts, started, null, null, transportFailure(err));
        if (!isConnectionFailure(err)) break;
      }
    }
    throw new LicensorError(
      'MARKETPLACE_UNAVAILABLE',
      `Marketplace unreachable: ${lastError === undefined ? 'unknown error' : transportFailure(lastError)}`,
      undefined,
      { cause: lastError },
    );
  }

  private log(
    opts: CallOptions,
    started: number,
    httpStatus: number | null,
    resultCode: string | null,
    error: string | null,
  ) {
    this.messages?.record({
      direction: 'out',
      activity: opts.activity,
      method: opts.method,
      path: PREFIX + opts.path,
      code: opts.ids?.code ?? null,
      orderId: opts.ids?.orderId ?? null,
      eventId: opts.ids?.eventId ?? null,
      entitlementId: opts.ids?.entitlementId ?? null,
      httpStatus,
      resultCode,
      error,
      latencyMs: performance.now() - started,
    });
  }

  private async licenseCall<T>(
    path: string,
    activity: string,
    payload: unknown,
    code?: string,
  ): Promise<LicenseApiResult<T>> {
    const { status, json } = await this.call({
      method: 'POST',
      path,
      activity,
      body: Buffer.from(JSON.stringify(payload)),
      ids: code ? { code } : undefined,
    });
    const errorCode = String(json.error_code ?? '');
    if (status >= 400 && !errorCode.startsWith(LICENSE_API_PREFIX)) {
      throw new LicensorError('MARKETPLACE_REJECTED', `Marketplace rejected ${activity}: HTTP ${status} ${errorCode}`, {
        httpStatus: status,
        errorCode,
      });
    }
    return { errorCode, errorMsg: String(json.error_msg ?? ''), data: json.data as T | undefined };
  }

  /**
   * Activates one code (v1). `license_code_info` arrives as a JSON string and is parsed here.
   * Codes are activated one by one, when a buyer first uses each one: the activation time is the real start
   * of service (spec §7.1), so the v2 batch activation would start codes nobody uses yet; it is not used.
   */
  async activateCode(code: string, realEffectTime?: string): Promise<LicenseApiResult<LicenseCodeInfo>> {
    const r = await this.licenseCall<{ license_code_info?: string | LicenseCodeInfo }>(
      '/v1/license/activate',
      'license.activate',
      realEffectTime ? { license: code, real_effect_time: realEffectTime } : { license: code },
      code,
    );
    const raw = r.data?.license_code_info;
    let info: LicenseCodeInfo | undefined;
    if (typeof raw === 'string') {
      try {
        info = JSON.parse(raw) as LicenseCodeInfo;
      } catch {
        info = undefined;
      }
    } else info = raw;
    return { ...r, data: info };
  }

  queryCode(code: string): Promise<LicenseApiResult<LicenseCodeInfo>> {
    return this.licenseCall('/v1/license/heartbeat', 'license.query', { license: code }, code);
  }

  async queryCodes(codes: string[]): Promise<LicenseApiResult<{ license_list?: LicenseCodeInfo[] }>> {
    if (codes.length > 100) throw new LicensorError('INVALID_INPUT', 'At most 100 codes per batch query');
    return this.licenseCall('/v2/license/heartbeat', 'license.query.batch', { license_list: codes });
  }

  reportUsage(entries: UsageEntry[]): Promise<LicenseApiResult<Record<string, unknown>>> {
    if (entries.length > 100) throw new LicensorError('INVALID_INPUT', 'At most 100 codes per usage report');
    return this.licenseCall('/v2/license/software-usage-info', 'license.usage', { usage_info: entries });
  }

  async queryOrder(orderId: string, orderLineId?: string): Promise<OrderInfo> {
    const { status, json } = await this.call({
      method: 'GET',
      path: '/v1/order/query',
      query: orderLineId ? { orderId, orderLineId } : { orderId },
      activity: 'order.query',
      ids: { orderId },
    });
    if (json.resultCode !== ORDER_API.success || !json.orderInfo) {
      throw new LicensorError(
        'MARKETPLACE_REJECTED',
        `Order query for ${orderId} failed: HTTP ${status} ${String(json.resultCode)} ${String(json.resultMsg ?? '')}`,
        { httpStatus: status, resultCode: json.resultCode },
      );
    }
    return json.orderInfo as OrderInfo;
  }

  /** Uploads a License file for a getLicenseAsync event (multipart, type FILE with its SHA-256). */
  async uploadLicenseFile(eventId: string, fileName: string, content: string, entitlementId?: string): Promise<void> {
    const bytes = Buffer.from(content, 'utf8');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const boundary = `----licensor${randomBytes(12).toString('hex')}`;
    const meta = JSON.stringify({ type: 'FILE', file_name: fileName, sha256 });
    const safeName = fileName.replace(/["\r\n\\]/g, '_');
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      bytes,
      Buffer.from(
        `\r\n--${boundary}\r\nContent-Disposition: form-data; name="isvUpdateFileReq"\r\nContent-Type: application/json\r\n\r\n${meta}\r\n--${boundary}--\r\n`,
      ),
    ]);
    const { status, json } = await this.call({
      method: 'POST',
      path: `/v1/market-event/${encodeURIComponent(eventId)}/file`,
      body,
      contentType: `multipart/form-data; boundary=${boundary}`,
      activity: 'license.upload',
      ids: { eventId, entitlementId },
    });
    if (json.error_code !== FILE_API.success) {
      throw new LicensorError(
        'MARKETPLACE_REJECTED',
        `License upload for event ${eventId} refused: HTTP ${status} ${String(json.error_code)} ${String(json.error_msg ?? '')}`,
        { httpStatus: status, errorCode: json.error_code },
      );
    }
  }
}
