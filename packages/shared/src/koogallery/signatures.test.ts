import { describe, expect, it } from 'vitest';
import { LicensorError } from '../errors';
import {
  bodySignHeader,
  parseBodySignHeader,
  parseFormQuery,
  schemeAAuthToken,
  schemeABodyAuthToken,
  schemeBInnerHex,
  schemeBSignature,
  verifyBodySign,
  verifySchemeA,
  verifySchemeABody,
  verifySchemeB,
  verifyXSign,
  xSign,
} from './index';

const TEST_KEY = 'TestAccessKey0123456789';

describe('scheme A authToken (spec 3.1)', () => {
  const A1 = {
    activity: 'getLicense',
    businessId: '61e834ba-7b97-4418-b8f7-e5345137278c',
    customerId: '68cbc86abc2018ab880d92f36422fa0e',
    expireTime: '20200727153156',
    orderId: 'CS1906666666ABCDE',
    productId: '00301-666666-0--0',
    testFlag: '1',
    timeStamp: '20200727073711903',
  };
  const A1_TOKEN = 'X+95zjWj3Gc1pUTQN2FUM9w3Hxj2l9TT2gNB77IQpMQ=';
  const A1_QUERY =
    'activity=getLicense&businessId=61e834ba-7b97-4418-b8f7-e5345137278c&customerId=68cbc86abc2018ab880d92f36422fa0e&expireTime=20200727153156&orderId=CS1906666666ABCDE&productId=00301-666666-0--0&testFlag=1&timeStamp=20200727073711903&authToken=X%2B95zjWj3Gc1pUTQN2FUM9w3Hxj2l9TT2gNB77IQpMQ%3D';

  it('vector A-1', () => {
    expect(schemeAAuthToken(TEST_KEY, A1)).toBe(A1_TOKEN);
    expect(verifySchemeA(TEST_KEY, { ...A1, authToken: A1_TOKEN })).toBe(true);
  });

  it('vector A-1 arriving as a percent-encoded query string (spec 5.1 example)', () => {
    const params = parseFormQuery(`?${A1_QUERY}`);
    expect(params['authToken']).toBe(A1_TOKEN);
    expect(verifySchemeA(TEST_KEY, params)).toBe(true);
  });

  it('vector A-2', () => {
    const params = {
      activity: 'releaseLicense',
      instanceId: '4ef28f-312d3d-gad335f-3132hkf',
      orderId: 'CS2211181819B4LVS',
      timeStamp: '20240102030405678',
    };
    expect(schemeAAuthToken('my-secret-key', params)).toBe('MywgQir9zRBJ18pIHpJKWgwCyeRqj+WeENSRC/B7Dn0=');
    const query = new URLSearchParams({
      ...params,
      authToken: 'MywgQir9zRBJ18pIHpJKWgwCyeRqj+WeENSRC/B7Dn0=',
    }).toString();
    expect(query).toContain('authToken=MywgQir9zRBJ18pIHpJKWgwCyeRqj%2BWeENSRC%2FB7Dn0%3D');
    expect(verifySchemeA('my-secret-key', parseFormQuery(query))).toBe(true);
  });

  it('rejects wrong key, tampered values, missing params and the still-encoded token', () => {
    expect(verifySchemeA('wrong-key', { ...A1, authToken: A1_TOKEN })).toBe(false);
    expect(verifySchemeA(TEST_KEY, { ...A1, orderId: 'CS1906666666ABCDF', authToken: A1_TOKEN })).toBe(false);
    expect(verifySchemeA(TEST_KEY, { ...A1, extra: '', authToken: A1_TOKEN })).toBe(false);
    expect(verifySchemeA(TEST_KEY, A1)).toBe(false);
    const { timeStamp, ...noTime } = A1;
    expect(verifySchemeA(TEST_KEY, { ...noTime, authToken: A1_TOKEN })).toBe(false);
    expect(verifySchemeA(TEST_KEY, { ...A1, authToken: 'X%2B95zjWj3Gc1pUTQN2FUM9w3Hxj2l9TT2gNB77IQpMQ%3D' })).toBe(
      false,
    );
    expect(verifySchemeA(TEST_KEY, { ...A1, authToken: A1_TOKEN.slice(0, -1) })).toBe(false);
    expect(() => schemeAAuthToken(TEST_KEY, noTime)).toThrow(LicensorError);
  });

  it('signs decoded values: a token over the still-encoded values does not verify', () => {
    const decoded = { activity: 'getLicense', customerName: 'Zhang San+李', timeStamp: '20240102030405678' };
    const encoded = { ...decoded, customerName: encodeURIComponent(decoded.customerName) };
    const query = `${new URLSearchParams(decoded)}&authToken=${encodeURIComponent(schemeAAuthToken('k', encoded))}`;
    expect(verifySchemeA('k', parseFormQuery(query))).toBe(false);
    const good = `${new URLSearchParams(decoded)}&authToken=${encodeURIComponent(schemeAAuthToken('k', decoded))}`;
    expect(verifySchemeA('k', parseFormQuery(good))).toBe(true);
  });
});

describe('parseFormQuery', () => {
  it('decodes form encoding, keeps the first of repeated names, tolerates bare names', () => {
    expect(parseFormQuery('a=1+2&b=%E6%9D%8E%20x&a=3&c&&d=')).toEqual({ a: '1 2', b: '李 x', c: '', d: '' });
    expect(parseFormQuery('')).toEqual({});
    const p = parseFormQuery('__proto__=x&constructor=y');
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(Object.keys(p)).toEqual(['__proto__', 'constructor']);
  });

  it('rejects malformed percent escapes with INVALID_INPUT', () => {
    for (const q of ['a=%', 'a=%zz', 'a=%E6%9D', '%G0=1']) {
      expect(() => parseFormQuery(q), q).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });
});

describe('scheme A POST-body variant (Kit v1)', () => {
  const body = {
    instanceId: 'huaiweitest123456',
    tenantId: '68cbc86abc2018ab880d92f36422fa0e',
    flag: 1,
    testFlag: 0,
    orgCode: '',
    parentCode: null,
    userList: [{ userName: 'a' }],
    timeStamp: '20220413093539534',
  };

  it('signs top-level fields as strings, skipping blank ones, with timeStamp from the body', () => {
    const expected = schemeAAuthToken('k', {
      instanceId: 'huaiweitest123456',
      tenantId: '68cbc86abc2018ab880d92f36422fa0e',
      flag: '1',
      testFlag: '0',
      userList: '[{"userName":"a"}]',
      timeStamp: '20220413093539534',
    });
    expect(schemeABodyAuthToken('k', body)).toBe(expected);
    expect(verifySchemeABody('k', body, expected)).toBe(true);
    expect(verifySchemeABody('k', body, [expected, expected])).toBe(false);
    expect(schemeABodyAuthToken('k', { ...body, orgCode: '   ' })).toBe(expected);
  });

  it('rejects tampering, wrong key, missing token or timeStamp', () => {
    const token = schemeABodyAuthToken('k', body);
    expect(verifySchemeABody('k', { ...body, flag: 2 }, token)).toBe(false);
    expect(verifySchemeABody('other', body, token)).toBe(false);
    expect(verifySchemeABody('k', body, undefined)).toBe(false);
    expect(verifySchemeABody('k', body, '')).toBe(false);
    const { timeStamp, ...noTime } = body;
    expect(verifySchemeABody('k', noTime, token)).toBe(false);
    expect(() => schemeABodyAuthToken('k', noTime)).toThrow(LicensorError);
  });
});

describe('Body-Sign (spec 3.2)', () => {
  const vectors = [
    [
      'R-1',
      TEST_KEY,
      '{"resultCode":"000000","resultMsg":"success.","license":"LIC-DEMO-0001","instanceId":"4ef28f-312d3d-gad335f-3132hkf"}',
      'UIHJeq/xFDqnCaQlys3ju2UIsgKOp90zxPq8LjLaCA4=',
    ],
    [
      'R-2',
      'my-secret-key',
      '{"resultCode":"000000","resultMsg":"success."}',
      'sJLuHsoFCsg8PZeTmjCeIWqkjzDnTkpjAGebgoBUtPg=',
    ],
    ['R-3', TEST_KEY, '{"resultCode":"000000","resultMsg":"success"}', '/8RKipe4B1PcoZ+deoL+pPUZ+OPhX24dg//1FXIrs5A='],
  ] as const;

  it.each(vectors)('vector %s', (_name, key, body, sig) => {
    const header = `sign_type="HMAC-SHA256", signature= "${sig}"`;
    expect(bodySignHeader(key, body)).toBe(header);
    expect(bodySignHeader(key, new TextEncoder().encode(body))).toBe(header);
    expect(parseBodySignHeader(header)).toBe(sig);
    expect(verifyBodySign(key, body, header)).toBe(true);
  });

  it('tolerates optional whitespace after "," and "="', () => {
    const [, key, body, sig] = vectors[1];
    for (const h of [
      `sign_type="HMAC-SHA256",signature="${sig}"`,
      `sign_type= "HMAC-SHA256",   signature=  "${sig}"`,
      ` sign_type = "HMAC-SHA256" , signature = "${sig}" `,
    ]) {
      expect(verifyBodySign(key, body, h), h).toBe(true);
    }
  });

  it('rejects a tampered body, a wrong key, wrong-case names and malformed headers', () => {
    const [, key, body, sig] = vectors[1];
    const header = bodySignHeader(key, body);
    expect(verifyBodySign(key, `${body}\n`, header)).toBe(false);
    expect(verifyBodySign(key, body.replace('success.', 'success'), header)).toBe(false);
    expect(verifyBodySign('wrong', body, header)).toBe(false);
    for (const h of [
      `Sign_Type="HMAC-SHA256", signature= "${sig}"`,
      `sign_type="HMAC-SHA256", Signature= "${sig}"`,
      `sign_type="hmac-sha256", signature= "${sig}"`,
      `sign_type=HMAC-SHA256, signature= ${sig}`,
      `signature= "${sig}"`,
      '',
    ]) {
      expect(parseBodySignHeader(h), h).toBeNull();
      expect(verifyBodySign(key, body, h)).toBe(false);
    }
    expect(verifyBodySign(key, body, undefined)).toBe(false);
  });
});

describe('scheme B signature/timestamp/nonce (spec 3.3, addendum A1.8)', () => {
  const vectors = [
    {
      name: 'B-1',
      accessKey: TEST_KEY,
      nonce: '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA',
      timestamp: '1680508066618',
      payload:
        '{"activity":"getLicenseAsync","eventId":"8a1e5694c2b3c8","instanceId":"RA20231027LVS","effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","deviceFingerprint":"04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672","testFlag":"1"}',
      innerHex: 'ee21dc6ae5cc01aef21add6eb4f9f3d40239547687e5727f2715639804a749e2',
      signature: 'B162A483E444A6AFC0906131119F62BEC105416CBFE34B693676A34958610A49',
    },
    {
      name: 'B-2',
      accessKey: 'my-secret-key',
      nonce: 'RLLUammMSInlrNWb',
      timestamp: '1716363778801',
      payload:
        '{"activity":"refreshLicenseCode","expireTime":"20230523201932","license":"PL0000000001","orderId":"CS2305231200ABCDE","orderLineId":"CS2305231200ABCDE-000001","productId":"OFFI000000000000000001","scene":"RENEWAL","testFlag":"1"}',
      innerHex: '88c07bb9ad28379ee88a576cbb367a6107d2e462c5dd26d2aaca70083a799fa9',
      signature: 'EB074AB1C6E4597965046263746449AAEFA260D0D96D39C6FF846C146E535D7B',
      sha256Variant: '20733FD79E5564C969BB429FD8C313CAFC9679CCDE1EC6D4AED27B9142B1D7EB',
    },
    {
      name: 'B-3',
      accessKey: TEST_KEY,
      nonce: 'Of4lsV7H1qrzVDI52O5CFk2ofPcZRaA6',
      timestamp: '1729566664115',
      payload:
        '{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}',
      innerHex: '72fd0f7b70a6e10baaff602d8a4429ace2891f1a9083a268e9690be39685d103',
      signature: '120ECE83F9D6085241DBC59BCB72B860D948DAFC89F75545E6FB6AEFB305160A',
      sha256Variant: '1BE838150CB248B259CF23120F6C887FC3B14C5FDDB8D90F574C1F4BF9DB6D61',
    },
  ];

  for (const v of vectors) {
    it(`vector ${v.name}`, () => {
      const now = Number(v.timestamp);
      expect(schemeBInnerHex(v.accessKey, v.payload)).toBe(v.innerHex);
      expect(schemeBSignature(v.accessKey, v.nonce, v.timestamp, v.payload)).toBe(v.signature);
      const bytes = new TextEncoder().encode(v.payload);
      const q = { signature: v.signature, timestamp: v.timestamp, nonce: v.nonce };
      expect(verifySchemeB(v.accessKey, q, bytes, now)).toEqual({ ok: true, timestampMs: now });
      expect(verifySchemeB(v.accessKey, q, v.payload, now)).toEqual({ ok: true, timestampMs: now });
      expect(verifySchemeB(v.accessKey, { ...q, signature: v.signature.toLowerCase() }, bytes, now).ok).toBe(true);
      if (v.sha256Variant) {
        expect(verifySchemeB(v.accessKey, { ...q, signature: v.sha256Variant }, bytes, now)).toEqual({
          ok: false,
          reason: 'bad-signature',
        });
      }
    });
  }

  const v = vectors[2]!;
  const q = { signature: v.signature, timestamp: v.timestamp, nonce: v.nonce };
  const ts = Number(v.timestamp);

  it('rejects a tampered body, wrong key, tampered nonce and malformed signatures', () => {
    const bad = { ok: false, reason: 'bad-signature' };
    expect(verifySchemeB(v.accessKey, q, v.payload.replace('"1"', '"0"'), ts)).toEqual(bad);
    expect(verifySchemeB(v.accessKey, q, `${v.payload} `, ts)).toEqual(bad);
    expect(verifySchemeB('wrong-key', q, v.payload, ts)).toEqual(bad);
    expect(verifySchemeB(v.accessKey, { ...q, nonce: `${v.nonce}x` }, v.payload, ts)).toEqual(bad);
    expect(verifySchemeB(v.accessKey, { ...q, signature: v.signature.slice(2) }, v.payload, ts)).toEqual(bad);
    expect(verifySchemeB(v.accessKey, { ...q, signature: `${v.signature.slice(0, 63)}G` }, v.payload, ts)).toEqual(bad);
  });

  it('accepts ±59 s and ±60 s, rejects ±61 s', () => {
    for (const d of [59_000, -59_000, 60_000, -60_000])
      expect(verifySchemeB(v.accessKey, q, v.payload, ts + d).ok, `${d}`).toBe(true);
    for (const d of [61_000, -61_000]) {
      expect(verifySchemeB(v.accessKey, q, v.payload, ts + d), `${d}`).toEqual({ ok: false, reason: 'stale' });
    }
    expect(verifySchemeB(v.accessKey, q, v.payload, ts + 90_000, 120_000).ok).toBe(true);
    expect(verifySchemeB(v.accessKey, q, v.payload, Number.NaN).ok).toBe(false);
  });

  it('reads ≤10-digit timestamps as seconds and refuses non-numeric ones', () => {
    const seconds = '1729566664';
    const sig = schemeBSignature(v.accessKey, v.nonce, seconds, v.payload);
    expect(
      verifySchemeB(v.accessKey, { ...q, signature: sig, timestamp: seconds }, v.payload, 1729566664000 + 30_000),
    ).toEqual({
      ok: true,
      timestampMs: 1729566664000,
    });
    for (const t of ['abc', '1729566664115.0', '-1729566664', ' 1729566664115', '17295666641150']) {
      const s = schemeBSignature(v.accessKey, v.nonce, t, v.payload);
      expect(verifySchemeB(v.accessKey, { ...q, signature: s, timestamp: t }, v.payload, ts), t).toEqual({
        ok: false,
        reason: 'stale',
      });
    }
  });

  it('reports missing parameters', () => {
    for (const k of ['signature', 'timestamp', 'nonce'] as const) {
      expect(verifySchemeB(v.accessKey, { ...q, [k]: undefined }, v.payload, ts)).toEqual({
        ok: false,
        reason: 'missing',
      });
      expect(verifySchemeB(v.accessKey, { ...q, [k]: '' }, v.payload, ts)).toEqual({ ok: false, reason: 'missing' });
    }
  });
});

describe('scheme B′ x-sign (spec 3.4, addendum A6)', () => {
  const vectors = [
    {
      name: 'X-1',
      payload:
        '{"instanceId":"huaiweitest123456","orderId":"CS1906666666ABCDE","tenantId":"68cbc86abc2018ab880d92f36422fa0e","tenantCode":"huawei","name":"huaiweitest","domainName":"https://example.tenantaccount.com","flag":1,"testFlag":0,"timeStamp":"20220413093539534"}',
      sign: '81C346F0AF7670F7DA256C36DEB3FDCE54A326A7362596F184AFC24AE22B06B1',
    },
    {
      name: 'X-2',
      payload:
        '{"instanceId":"huaiweitest123456","tenantId":"68cbc86abc2018ab880d92f36422fa0e","orgInfoList":[{"orgCode":"00000001","orgName":"产品部","parentCode":"265789314"},{"orgCode":"00000002","orgName":"测试部","parentCode":"265789314"}],"testFlag":0,"timeStamp":"20220413093539534"}',
      sign: 'C18AC69F596B47FBDEA9D952636EDCD3DA65C02D7F18D3C207F411411FC85103',
    },
  ];
  const nonce = '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA';
  const timestamp = '1680508066618';
  const now = Number(timestamp);

  it.each(vectors)('vector $name', ({ payload, sign }) => {
    expect(xSign(TEST_KEY, nonce, timestamp, payload)).toBe(sign);
    const bytes = Buffer.from(payload, 'utf8');
    expect(xSign(TEST_KEY, nonce, timestamp, bytes)).toBe(sign);
    expect(verifyXSign(TEST_KEY, { sign, timestamp, nonce }, bytes, now)).toEqual({ ok: true, timestampMs: now });
    expect(verifyXSign(TEST_KEY, { sign: sign.toLowerCase(), timestamp, nonce }, bytes, now - 59_000).ok).toBe(true);
  });

  it('rejects tampering, wrong key, stale timestamps and missing headers', () => {
    const { payload, sign } = vectors[1]!;
    const h = { sign, timestamp, nonce };
    expect(verifyXSign(TEST_KEY, h, payload.replace('产品部', '产品'), now)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyXSign('wrong', h, payload, now)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyXSign(TEST_KEY, h, payload, now + 61_000)).toEqual({ ok: false, reason: 'stale' });
    expect(verifyXSign(TEST_KEY, h, payload, now - 61_000)).toEqual({ ok: false, reason: 'stale' });
    expect(verifyXSign(TEST_KEY, { timestamp, nonce }, payload, now)).toEqual({ ok: false, reason: 'missing' });
    // Scheme B and B′ are different algorithms: one's signature never passes as the other's.
    expect(verifySchemeB(TEST_KEY, { signature: sign, timestamp, nonce }, payload, now).ok).toBe(false);
  });
});
