import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyAkSk } from '@licensor/shared';
import { compact as formatCompactTime } from './ids';

/**
 * A faithful stand-in for KooGallery's open APIs (spec §6.4, §6.5, §7.2–7.5): license activate/query
 * (v1 and batch v2), usage statistics, order query (incl. the documented MOCK… order ids) and License
 * upload. Every call must carry a valid SDK-HMAC-SHA256 signature. Faults can be injected to rehearse
 * what the merchant server does when the marketplace is slow, failing or unreachable.
 */

export type CodeStatus = 'ALIVE' | 'EXPIRED' | 'RELEASED';

export interface SimCode {
  code: string;
  status: CodeStatus;
  received: boolean;
  activated: boolean;
  activateTime?: string;
  expireTime: string;
  productId: string;
  orderId: string;
  amount: number;
}

export interface SimOrderInput {
  orderId: string;
  orderLineId?: string;
  orderType?: 'NEW' | 'TRIAL' | 'TRIAL_TO_FORMAL' | 'UNSUBSCRIBE' | 'RENEW' | 'CHANGE';
  chargingMode?: 'PERIOD' | 'ONE_TIME' | 'ON_DEMAND' | 'ON_DEMAND_PKG';
  periodType?: string;
  periodNumber?: number;
  expireTime?: string;
  productId?: string;
  skuCode?: string;
  linearValue?: number;
  customerId?: string;
  customerName?: string;
}

export interface SimUpload {
  eventId: string;
  type: string;
  fileName?: string;
  sha256?: string;
  content: string;
  at: string;
}

export interface SimCall {
  method: string;
  path: string;
  status: number;
  code: string;
  authOk: boolean;
  at: string;
}

export interface Faults {
  /** Delay every answer by this many ms (e.g. > the merchant's timeout). */
  delayMs?: number;
  /** Answer the next N calls with HTTP 500. */
  failNext?: number;
  /** Drop (destroy) the next N connections without answering. */
  dropNext?: number;
  /**
   * Hold the next `next` calls whose path contains `pathIncludes` (any call without it) open, never answering:
   * a marketplace that stalls mid-call, until the caller gives up or dies. Each held call is listed in `held`.
   */
  hold?: { next: number; pathIncludes?: string };
}

/** A call the simulator received and never answered (Faults.hold). */
export interface SimHeldCall {
  method: string;
  path: string;
  at: string;
  /** When the caller closed the connection (its timeout, or its process died); undefined while still open. */
  closedAt?: string;
}

const PREFIX = '/api/mkp-openapi-public/global';
const DAY = 86_400_000;

export const MOCK_ORDER_IDS = [
  'MOCKPERIODYEARNEW',
  'MOCKONETIMENEW',
  'MOCKONDEMAND',
  'MOCKONDEMANDPKG',
  'MOCKPERIODDAYTRIAL',
  'MOCKMONTYTRIALTOFORMAL',
  'MOCKMONTYUNSUBSCRIBE',
  'MOCKMONTYRENEW',
  'MOCKMONTYCHANGE',
] as const;

function mockOrder(orderId: string): SimOrderInput | undefined {
  const year = formatCompactTime(new Date(Date.now() + 365 * DAY));
  const month = formatCompactTime(new Date(Date.now() + 31 * DAY));
  switch (orderId) {
    case 'MOCKPERIODYEARNEW':
      return {
        orderId,
        orderType: 'NEW',
        chargingMode: 'PERIOD',
        periodType: 'year',
        periodNumber: 1,
        expireTime: year,
        linearValue: 50,
      };
    case 'MOCKONETIMENEW':
      return { orderId, orderType: 'NEW', chargingMode: 'ONE_TIME' };
    case 'MOCKONDEMAND':
      return { orderId, orderType: 'NEW', chargingMode: 'ON_DEMAND' };
    case 'MOCKONDEMANDPKG':
      return { orderId, orderType: 'NEW', chargingMode: 'ON_DEMAND_PKG', expireTime: month };
    case 'MOCKPERIODDAYTRIAL':
      return {
        orderId,
        orderType: 'TRIAL',
        chargingMode: 'PERIOD',
        periodType: 'day',
        periodNumber: 7,
        expireTime: formatCompactTime(new Date(Date.now() + 7 * DAY)),
      };
    case 'MOCKMONTYTRIALTOFORMAL':
      return {
        orderId,
        orderType: 'TRIAL_TO_FORMAL',
        chargingMode: 'PERIOD',
        periodType: 'month',
        periodNumber: 1,
        expireTime: month,
      };
    case 'MOCKMONTYUNSUBSCRIBE':
      return {
        orderId,
        orderType: 'UNSUBSCRIBE',
        chargingMode: 'PERIOD',
        periodType: 'month',
        periodNumber: 1,
        expireTime: formatCompactTime(new Date()),
      };
    case 'MOCKMONTYRENEW':
      return {
        orderId,
        orderType: 'RENEW',
        chargingMode: 'PERIOD',
        periodType: 'month',
        periodNumber: 1,
        expireTime: formatCompactTime(new Date(Date.now() + 62 * DAY)),
      };
    case 'MOCKMONTYCHANGE':
      return {
        orderId,
        orderType: 'CHANGE',
        chargingMode: 'PERIOD',
        periodType: 'month',
        periodNumber: 1,
        expireTime: month,
        linearValue: 100,
      };
    default:
      return undefined;
  }
}

function orderInfo(o: SimOrderInput) {
  const line: Record<string, unknown> = {
    orderLineId: o.orderLineId ?? `${o.orderId}-000001`,
    chargingMode: o.chargingMode ?? 'PERIOD',
    productInfo: [
      {
        productId: o.productId ?? 'OFFI000000000000000001',
        skuCode: o.skuCode ?? '0a4d1578-0000-4000-8000-000000000001',
        linearValue: o.linearValue ?? 1,
        productName: 'Simulated product',
      },
    ],
    extendParams: [],
    currency: '100',
    currencyAfterDiscount: '100',
  };
  if ((o.chargingMode ?? 'PERIOD') === 'PERIOD') {
    line.periodType = o.periodType ?? 'year';
    line.periodNumber = o.periodNumber ?? 1;
  }
  if (o.expireTime) line.expireTime = o.expireTime;
  return {
    orderId: o.orderId,
    orderType: o.orderType ?? 'NEW',
    createTime: formatCompactTime(new Date()),
    orderLine: [line],
    buyerInfo: {
      mobilePhone: null,
      email: null,
      customerId: o.customerId ?? '459b0000000000000000000000000001',
      customerName: o.customerName ?? 'sim_user_01',
      customerRealName: null,
      customerType: 0,
      userId: null,
      userName: null,
    },
    extendParams: [],
  };
}

const licenseInfo = (c: SimCode) => ({
  license_code: c.code,
  status: c.status,
  activate_time: c.activateTime ?? '',
  expire_time: c.expireTime,
  product_id: c.productId,
  order_id: c.orderId,
  amount: c.amount,
});

/** Splits a multipart/form-data body into named parts (enough for the upload API). */
function parseMultipart(body: Buffer, contentType: string): Map<string, { filename?: string; data: Buffer }> {
  const parts = new Map<string, { filename?: string; data: Buffer }>();
  const m = /boundary=("?)([^";]+)\1/i.exec(contentType);
  if (!m) return parts;
  const delimiter = Buffer.from(`--${m[2]}`);
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    const next = body.indexOf(delimiter, pos + delimiter.length);
    if (next < 0) break;
    const chunk = body.subarray(pos + delimiter.length + 2, next - 2);
    const headerEnd = chunk.indexOf('\r\n\r\n');
    if (headerEnd >= 0) {
      const headers = chunk.subarray(0, headerEnd).toString('utf8');
      const name = /name="([^"]*)"/i.exec(headers)?.[1];
      const filename = /filename="([^"]*)"/i.exec(headers)?.[1];
      if (name) parts.set(name, { filename, data: chunk.subarray(headerEnd + 4) });
    }
    pos = next;
  }
  return parts;
}

export class MarketplaceSimulator {
  readonly codes = new Map<string, SimCode>();
  readonly orders = new Map<string, ReturnType<typeof orderInfo>>();
  readonly uploads: SimUpload[] = [];
  readonly usage: unknown[] = [];
  readonly calls: SimCall[] = [];
  /** Calls held open without an answer (Faults.hold); they are not in `calls`, which lists answered ones. */
  readonly held: SimHeldCall[] = [];
  faults: Faults = {};
  private server: http.Server | undefined;

  constructor(
    readonly ak: string,
    readonly sk: string,
  ) {}

  addCode(input: Partial<SimCode> & { code?: string } = {}): SimCode {
    const prev = input.code ? this.codes.get(input.code) : undefined;
    const code: SimCode = {
      code: input.code ?? `PL${randomBytes(8).toString('hex').toUpperCase()}`,
      status: 'ALIVE',
      received: true,
      activated: false,
      expireTime: formatCompactTime(new Date(Date.now() + 30 * DAY)),
      productId: 'OFFI000000000000000001',
      orderId: `CS${randomBytes(6).toString('hex').toUpperCase()}`,
      amount: 1,
      ...prev,
      ...input,
    } as SimCode;
    this.codes.set(code.code, code);
    return code;
  }

  addOrder(input: SimOrderInput) {
    const info = orderInfo(input);
    this.orders.set(info.orderId, info);
    return info;
  }

  uploadsFor(eventId: string): SimUpload[] {
    return this.uploads.filter((u) => u.eventId === eventId);
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    // A port in use rejects (EADDRINUSE) instead of crashing the process with an unhandled 'error' event.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (this.faults.dropNext && this.faults.dropNext > 0) {
      this.faults.dropNext--;
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://sim');
    const hold = this.faults.hold;
    if (hold && hold.next > 0 && url.pathname.includes(hold.pathIncludes ?? '')) {
      hold.next--;
      const call: SimHeldCall = { method: req.method ?? '', path: url.pathname, at: new Date().toISOString() };
      this.held.push(call);
      // The request body is read, so only the socket's end says the caller is gone.
      req.socket.once('close', () => {
        call.closedAt = new Date().toISOString();
      });
      return;
    }
    if (this.faults.delayMs) await new Promise((r) => setTimeout(r, this.faults.delayMs));
    const reply = (status: number, json: Record<string, unknown>, authOk = true) => {
      const code = String(json.error_code ?? json.resultCode ?? '');
      this.calls.push({
        method: req.method ?? '',
        path: url.pathname,
        status,
        code,
        authOk,
        at: new Date().toISOString(),
      });
      if (res.destroyed) return;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    if (this.faults.failNext && this.faults.failNext > 0) {
      this.faults.failNext--;
      return reply(500, { error_code: '92020001', error_msg: 'internal error (injected)' });
    }
    const auth = verifyAkSk({
      method: req.method ?? 'GET',
      url: `${url.pathname}${url.search}`,
      headers: req.headers as Record<string, string | string[] | undefined>,
      body,
      ak: this.ak,
      sk: this.sk,
      nowMs: Date.now(),
    });
    const path = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : url.pathname;
    if (!auth.ok) {
      return path.startsWith('/v1/market-event/')
        ? reply(403, { error_code: 'CBC.0150', error_msg: 'Illegal operation' }, false)
        : reply(
            401,
            { error_code: 'APIGW.0301', error_msg: `Incorrect IAM authentication information: ${auth.reason}` },
            false,
          );
    }
    if (path === '/v1/order/query' && req.method === 'GET') return this.orderQuery(url, reply);
    const upload = /^\/v1\/market-event\/([^/]{1,64})\/file$/.exec(path);
    if (upload && req.method === 'POST') return this.upload(decodeURIComponent(upload[1]!), req, body, reply);
    if (req.method !== 'POST') return reply(405, { error_code: '95000002', error_msg: 'Request method not supported' });
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply(415, { error_code: '95000003', error_msg: 'Content type not supported' });
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(400, { error_code: '95000004', error_msg: 'req message is not readable' });
    }
    switch (path) {
      case '/v1/license/activate':
        return this.activate(json, reply);
      case '/v2/license/activate':
        return this.activateBatch(json, reply);
      case '/v1/license/heartbeat':
        return this.query(json, reply);
      case '/v2/license/heartbeat':
        return this.queryBatch(json, reply);
      case '/v2/license/software-usage-info':
        return this.usageInfo(json, reply);
      default:
        return reply(404, { error_code: 'APIGW.0101', error_msg: 'The API does not exist' });
    }
  }

  private orderQuery(url: URL, reply: (s: number, j: Record<string, unknown>) => void) {
    const orderId = url.searchParams.get('orderId');
    const lineId = url.searchParams.get('orderLineId');
    if (!orderId) return reply(400, { resultCode: 'MKT.0101', resultMsg: 'Invalid parameter: orderId' });
    let order = this.orders.get(orderId);
    if (!order) {
      const mock = mockOrder(orderId);
      if (mock) order = orderInfo(mock);
    }
    if (!order)
      return reply(400, { resultCode: 'MKT.0199', resultMsg: `Request parameter error: order ${orderId} not found` });
    const lines = lineId ? order.orderLine.filter((l) => l.orderLineId === lineId) : order.orderLine;
    if (lines.length === 0) return reply(400, { resultCode: 'MKT.0199', resultMsg: `order line ${lineId} not found` });
    reply(200, { resultCode: 'MKT.0000', resultMsg: 'Success', orderInfo: { ...order, orderLine: lines } });
  }

  private upload(
    eventId: string,
    req: http.IncomingMessage,
    body: Buffer,
    reply: (s: number, j: Record<string, unknown>) => void,
  ) {
    const parts = parseMultipart(body, String(req.headers['content-type'] ?? ''));
    let meta: { type?: string; file_name?: string; sha256?: string; characters?: string };
    try {
      meta = JSON.parse(parts.get('isvUpdateFileReq')?.data.toString('utf8') ?? '');
    } catch {
      return reply(400, { error_code: 'CBC.0101', error_msg: 'Invalid parameter: isvUpdateFileReq' });
    }
    const file = parts.get('file');
    if (meta.type === 'FILE') {
      const sha = file ? createHash('sha256').update(file.data).digest('hex') : '';
      if (!file || !meta.file_name || meta.sha256?.toLowerCase() !== sha) {
        return reply(400, {
          error_code: 'CBC.0101',
          error_msg: 'Invalid parameter: file, file_name and a matching sha256 are required',
        });
      }
      this.uploads.push({
        eventId,
        type: 'FILE',
        fileName: meta.file_name,
        sha256: sha,
        content: file.data.toString('utf8'),
        at: new Date().toISOString(),
      });
    } else if (meta.type === 'CHARACTERS') {
      if (!meta.characters || meta.characters.length > 1024) {
        return reply(400, { error_code: 'CBC.0101', error_msg: 'Invalid parameter: characters (1–1024)' });
      }
      this.uploads.push({ eventId, type: 'CHARACTERS', content: meta.characters, at: new Date().toISOString() });
    } else {
      return reply(400, { error_code: 'CBC.0101', error_msg: 'Invalid parameter: type must be FILE or CHARACTERS' });
    }
    reply(200, { error_code: 'CBC.0000', error_msg: 'Success' });
  }

  private activate(json: Record<string, unknown>, reply: (s: number, j: Record<string, unknown>) => void) {
    const code = typeof json.license === 'string' ? this.codes.get(json.license) : undefined;
    if (typeof json.license !== 'string' || json.license.length > 64) {
      return reply(400, { error_code: '95000001', error_msg: 'req param is invalid: license' });
    }
    if (!code) return reply(200, { error_code: '92020005', error_msg: 'license code notexist' });
    if (!code.received)
      return reply(200, { error_code: '92020004', error_msg: 'can not active before user received.' });
    if (code.activated || code.status !== 'ALIVE')
      return reply(200, { error_code: '92020003', error_msg: 'illegal state' });
    code.activated = true;
    code.activateTime = formatCompactTime(new Date());
    const info = {
      status: code.status,
      expire_time: code.expireTime,
      product_id: code.productId,
      amount: code.amount,
      order_id: code.orderId,
    };
    reply(200, { error_code: '92020000', error_msg: 'success', data: { license_code_info: JSON.stringify(info) } });
  }

  private activateBatch(json: Record<string, unknown>, reply: (s: number, j: Record<string, unknown>) => void) {
    const list = json.license_list;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100) {
      return reply(400, { error_code: '95000001', error_msg: 'req param is invalid: license_list' });
    }
    const codes = list.map((c) => this.codes.get(String(c)));
    if (codes.some((c) => !c?.received || c.activated || c.status !== 'ALIVE')) {
      return reply(200, { error_code: '92020020', error_msg: 'Invalid license code exists.' });
    }
    for (const c of codes) {
      c!.activated = true;
      c!.activateTime = formatCompactTime(new Date());
    }
    reply(200, { error_code: '92020000', error_msg: 'success' });
  }

  private query(json: Record<string, unknown>, reply: (s: number, j: Record<string, unknown>) => void) {
    const code = typeof json.license === 'string' ? this.codes.get(json.license) : undefined;
    if (!code) return reply(200, { error_code: '92020005', error_msg: 'license code notexist' });
    if (!code.activated)
      return reply(200, { error_code: '92020011', error_msg: 'license code has been not activated.' });
    reply(200, { error_code: '92020000', error_msg: 'success', data: licenseInfo(code) });
  }

  private queryBatch(json: Record<string, unknown>, reply: (s: number, j: Record<string, unknown>) => void) {
    const list = json.license_list;
    if (!Array.isArray(list) || list.length === 0 || list.length > 100) {
      return reply(400, { error_code: '95000001', error_msg: 'req param is invalid: license_list' });
    }
    const codes = list.map((c) => this.codes.get(String(c)));
    if (codes.some((c) => !c?.activated))
      return reply(200, { error_code: '92020020', error_msg: 'Invalid license code exists.' });
    reply(200, {
      error_code: '92020000',
      error_msg: 'success',
      data: { license_list: codes.map((c) => licenseInfo(c!)) },
    });
  }

  private usageInfo(json: Record<string, unknown>, reply: (s: number, j: Record<string, unknown>) => void) {
    const entries = json.usage_info;
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > 100) {
      return reply(400, { error_code: '95000001', error_msg: 'req param is invalid: usage_info' });
    }
    for (const e of entries as { license?: unknown; software_usage_Info?: unknown }[]) {
      const infos = e.software_usage_Info;
      if (typeof e.license !== 'string' || !Array.isArray(infos) || infos.length === 0) {
        return reply(400, { error_code: '95000001', error_msg: 'req param is invalid: usage entry' });
      }
      for (const i of infos as Record<string, unknown>[]) {
        if ('id' in i === 'active_num' in i) {
          return reply(400, { error_code: '95000001', error_msg: 'exactly one of id / active_num per entry' });
        }
      }
    }
    const failed = (entries as { license: string }[])
      .filter((e) => !this.codes.get(e.license)?.activated)
      .map((e) => e.license);
    this.usage.push(...entries);
    reply(200, { error_code: '92020000', error_msg: 'success', data: { check_fail_license_list: failed } });
  }
}
