import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { akskSignatureFromStringToSign, formatSdkDate, rfc3986Encode, signAkSk, verifyAkSk } from './index';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const lowerHeaders = (h: Record<string, string>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

const K1 = {
  method: 'POST',
  url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/activate',
  headers: {
    'x-stage': 'RELEASE',
    'X-Sdk-Date': '20240317T144237Z',
    'Content-Type': 'application/json',
    Host: 'mkt.myhuaweicloud.com',
  },
  body: '',
  ak: 'test',
  sk: '123',
};
const K1_SIGNATURE = '77595ad624b6e4e49990b8c4e84bf1c287457fca61069c4e60b9b6765b52053d';
const K3_KEYS = { ak: 'AKEXAMPLE0000000001', sk: 'SKexample0000000000000000000000000000001' };

describe('AK/SK SDK-HMAC-SHA256 (spec 3.5)', () => {
  it('vector K-1: canonical request, string to sign, signature, Authorization', () => {
    const r = signAkSk(K1);
    expect(r.canonicalRequest).toBe(
      [
        'POST',
        '/api/mkp-openapi-public/global/v1/license/activate/',
        '',
        'content-type:application/json',
        'host:mkt.myhuaweicloud.com',
        'x-sdk-date:20240317T144237Z',
        'x-stage:RELEASE',
        '',
        'content-type;host;x-sdk-date;x-stage',
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      ].join('\n'),
    );
    expect(sha256(r.canonicalRequest)).toBe('9a33b07351104f6c775075faa7dc0db58ec18bc532feaa8fd0b8fcf7990b1a9e');
    expect(r.stringToSign).toBe(
      'SDK-HMAC-SHA256\n20240317T144237Z\n9a33b07351104f6c775075faa7dc0db58ec18bc532feaa8fd0b8fcf7990b1a9e',
    );
    expect(r.signature).toBe(K1_SIGNATURE);
    expect(r.authorization).toBe(
      `SDK-HMAC-SHA256 Access=test, SignedHeaders=content-type;host;x-sdk-date;x-stage, Signature=${K1_SIGNATURE}`,
    );
    expect(r.headers).toEqual({ ...K1.headers, Authorization: r.authorization });
  });

  it('vector K-1 without Host and X-Sdk-Date headers: both are derived', () => {
    const { Host, 'X-Sdk-Date': _date, ...headers } = K1.headers;
    const r = signAkSk({ ...K1, headers, date: new Date(Date.UTC(2024, 2, 17, 14, 42, 37, 999)) });
    expect(r.signature).toBe(K1_SIGNATURE);
    expect(r.headers).toMatchObject({ Host: 'mkt.myhuaweicloud.com', 'X-Sdk-Date': '20240317T144237Z' });
    expect(signAkSk({ ...K1, url: K1.url.replace('.com/', '.com:443/'), headers }).canonicalRequest).toContain(
      'host:mkt.myhuaweicloud.com\n',
    );
    expect(signAkSk({ ...K1, url: 'http://h.example:8080/x', headers }).headers['Host']).toBe('h.example:8080');
  });

  it('vector K-2: StringToSign → signature (Huawei documented example)', () => {
    const sts = 'SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a';
    expect(akskSignatureFromStringToSign('MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc', sts)).toBe(
      '7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe',
    );
  });

  it('vector K-3: GET with a query string', () => {
    const r = signAkSk({
      method: 'GET',
      url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query?orderId=MOCKPERIODYEARNEW&orderLineId=MOCKPERIODYEARNEW-000001',
      headers: { 'Content-Type': 'application/json', 'X-Sdk-Date': '20240101T000000Z', Host: 'mkt.myhuaweicloud.com' },
      body: '',
      ...K3_KEYS,
    });
    expect(r.canonicalRequest.split('\n')[2]).toBe('orderId=MOCKPERIODYEARNEW&orderLineId=MOCKPERIODYEARNEW-000001');
    expect(sha256(r.canonicalRequest)).toBe('67851d032ff0f15d1b6a2e6207f355a6e49cbe3ecbe346655e7e72592cb64971');
    expect(r.signature).toBe('b4704e0a811293bdeb18b98dd5756a542c082fb4451a157ad23755852d61c7b8');
  });

  it('vector K-4: POST with a JSON body', () => {
    const body = '{"license":"PLXXXXXX"}';
    expect(sha256(body)).toBe('3e414c5e8434e4efeb16b0ab2d599390f9d7d358f943193cf068fe17b865ace3');
    const r = signAkSk({
      method: 'POST',
      url: 'https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/license/heartbeat',
      headers: {
        'Content-Type': 'application/json;charset=UTF-8',
        'X-Sdk-Date': '20240315T081500Z',
        Host: 'mkt.myhuaweicloud.com',
      },
      body: new TextEncoder().encode(body),
      ...K3_KEYS,
    });
    expect(r.signature).toBe('651333481cdf4c8af01e7fc64b03f3601b550c0919ea405470ca3c659e81d042');
  });

  it('RFC 3986-encodes and sorts query names and values; encodes the path per segment', () => {
    expect(rfc3986Encode("a b!'()*~-_.中/+")).toBe('a%20b%21%27%28%29%2A~-_.%E4%B8%AD%2F%2B');
    const r = signAkSk({
      method: 'get',
      url: "https://h.example/a%20b/c(d)?z=1&b=x*y&a=2&a=1&e=&c=%2B+!'",
      headers: { 'X-Sdk-Date': '20240101T000000Z' },
      body: '',
      ak: 'a',
      sk: 's',
    });
    const [method, uri, query] = r.canonicalRequest.split('\n');
    expect(method).toBe('GET');
    expect(uri).toBe('/a%20b/c%28d%29/');
    expect(query).toBe('a=1&a=2&b=x%2Ay&c=%2B%20%21%27&e=&z=1');
  });

  it('uses X-Sdk-Content-Sha256 as the body hash when given', () => {
    const r = signAkSk({
      ...K1,
      headers: { ...K1.headers, 'X-Sdk-Content-Sha256': 'UNSIGNED-PAYLOAD' },
      body: 'multipart bytes',
    });
    expect(
      r.canonicalRequest.endsWith('\ncontent-type;host;x-sdk-content-sha256;x-sdk-date;x-stage\nUNSIGNED-PAYLOAD'),
    ).toBe(true);
  });

  it('formats X-Sdk-Date in UTC', () => {
    expect(formatSdkDate(new Date('2019-11-15T03:36:55.123Z'))).toBe('20191115T033655Z');
    expect(() => formatSdkDate(new Date('nope'))).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});

describe('verifyAkSk', () => {
  const signed = signAkSk(K1);
  const now = Date.UTC(2024, 2, 17, 14, 42, 37);
  const base = {
    method: 'POST',
    url: '/api/mkp-openapi-public/global/v1/license/activate',
    headers: lowerHeaders(signed.headers) as Record<string, string>,
    body: '',
    ak: 'test',
    sk: '123',
    nowMs: now,
  };

  it('accepts K-1 as received, with a request target or a full URL', () => {
    expect(verifyAkSk(base)).toEqual({ ok: true });
    expect(verifyAkSk({ ...base, url: K1.url })).toEqual({ ok: true });
    expect(verifyAkSk({ ...base, nowMs: now + 14 * 60_000 })).toEqual({ ok: true });
  });

  it('round-trips a signed request with query, body and unsigned extra headers', () => {
    const url = 'https://mkt.example.com:8443/api/v1/order/query?orderId=A%20B&x=%E4%B8%AD';
    const s = signAkSk({ method: 'GET', url, headers: { 'Content-Type': 'application/json' }, body: '{}', ...K3_KEYS });
    const headers = { ...lowerHeaders(s.headers), 'user-agent': 'node', 'content-length': '2' };
    const req = { method: 'GET', url: '/api/v1/order/query?orderId=A+B&x=%E4%B8%AD', headers, body: '{}', ...K3_KEYS };
    expect(verifyAkSk({ ...req, nowMs: Date.now() })).toEqual({ ok: true });
    expect(verifyAkSk({ ...req, url: '/api/v1/order/query?orderId=A+C&x=%E4%B8%AD', nowMs: Date.now() }).ok).toBe(
      false,
    );
  });

  it('rejects tampering, wrong credentials, skew and missing pieces', () => {
    const fails = (patch: Partial<typeof base>, headers: Record<string, string | undefined> = {}) =>
      verifyAkSk({ ...base, ...patch, headers: { ...base.headers, ...headers } }).ok;
    expect(fails({ body: 'x' })).toBe(false);
    expect(fails({ method: 'PUT' })).toBe(false);
    expect(fails({ url: '/api/mkp-openapi-public/global/v1/license/heartbeat' })).toBe(false);
    expect(fails({ sk: '124' })).toBe(false);
    expect(fails({ ak: 'other' })).toBe(false);
    expect(fails({}, { 'x-stage': 'TEST' })).toBe(false);
    expect(fails({}, { 'x-stage': undefined })).toBe(false);
    expect(fails({}, { authorization: undefined })).toBe(false);
    expect(fails({}, { authorization: signed.authorization.replace('SDK-HMAC-SHA256', 'SDK-HMAC-SHA1') })).toBe(false);
    expect(fails({ nowMs: now + 16 * 60_000 })).toBe(false);
    expect(fails({ nowMs: now - 16 * 60_000 })).toBe(false);
    expect(fails({}, { 'x-sdk-date': '2024-03-17T14:42:37Z' })).toBe(false);
    const proto = signed.authorization.replace('SignedHeaders=', 'SignedHeaders=__proto__;');
    expect(verifyAkSk({ ...base, headers: { ...base.headers, authorization: proto } })).toEqual({
      ok: false,
      reason: 'signed header __proto__ is missing',
    });
    const noHost = signed.authorization.replace('content-type;host;', 'content-type;');
    expect(verifyAkSk({ ...base, headers: { ...base.headers, authorization: noHost } })).toEqual({
      ok: false,
      reason: 'host and x-sdk-date must be signed',
    });
  });

  it('checks a hex X-Sdk-Content-Sha256 against the body and accepts UNSIGNED-PAYLOAD', () => {
    const sign = (h: string, body: string) =>
      lowerHeaders(signAkSk({ ...K1, headers: { ...K1.headers, 'X-Sdk-Content-Sha256': h }, body }).headers);
    const unsigned = sign('UNSIGNED-PAYLOAD', 'file bytes');
    expect(verifyAkSk({ ...base, headers: unsigned, body: 'other bytes' })).toEqual({ ok: true });
    const lie = sign(sha256('a'), 'b');
    expect(verifyAkSk({ ...base, headers: lie, body: 'b' })).toEqual({
      ok: false,
      reason: 'x-sdk-content-sha256 does not match the body',
    });
  });
});
