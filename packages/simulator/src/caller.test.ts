import { describe, expect, it } from 'vitest';
import { MarketplaceCaller } from './caller';

/** The simulator signs exactly like the spec's vectors (koogallery-spec.md §3, addendum A1.8). */
describe('MarketplaceCaller signatures', () => {
  const at = (ms: number) => new Date(ms);

  it('reproduces vector A-1 (scheme A authToken, percent-encoded in the URL)', () => {
    const caller = new MarketplaceCaller({
      url: 'https://isv.example.com/licenseproduce',
      key: 'TestAccessKey0123456789',
      accessKeys: {},
    });
    // timeStamp 20200727073711903 = 2020-07-27T07:37:11.903Z
    const req = caller.prepare(
      {
        activity: 'getLicense',
        businessId: '61e834ba-7b97-4418-b8f7-e5345137278c',
        customerId: '68cbc86abc2018ab880d92f36422fa0e',
        expireTime: '20200727153156',
        orderId: 'CS1906666666ABCDE',
        productId: '00301-666666-0--0',
        testFlag: '1',
      },
      { now: new Date('2020-07-27T07:37:11.903Z') },
    );
    expect(req.method).toBe('GET');
    expect(new URL(req.url).searchParams.get('authToken')).toBe('X+95zjWj3Gc1pUTQN2FUM9w3Hxj2l9TT2gNB77IQpMQ=');
    expect(req.url).toContain('authToken=X%2B95zjWj3Gc1pUTQN2FUM9w3Hxj2l9TT2gNB77IQpMQ%3D');
  });

  it('reproduces vectors B-1, B-2 and B-3 (scheme B over the raw body)', () => {
    const cases = [
      {
        key: 'TestAccessKey0123456789',
        nonce: '50D83FDECAED6CCD8EF597F2A577950527928BA287D04E6036E92B2806FD17DA',
        ts: 1680508066618,
        body: '{"activity":"getLicenseAsync","eventId":"8a1e5694c2b3c8","instanceId":"RA20231027LVS","effectiveTime":"2023-10-27 10:30:15 z","expireTime":"2024-10-27 10:30:15 z","deviceFingerprint":"04:7C:16:5E:E3:5D|001B_444A_488B_5CEC.||BFEBFBFF00090672","testFlag":"1"}',
        signature: 'B162A483E444A6AFC0906131119F62BEC105416CBFE34B693676A34958610A49',
      },
      {
        key: 'my-secret-key',
        nonce: 'RLLUammMSInlrNWb',
        ts: 1716363778801,
        body: '{"activity":"refreshLicenseCode","expireTime":"20230523201932","license":"PL0000000001","orderId":"CS2305231200ABCDE","orderLineId":"CS2305231200ABCDE-000001","productId":"OFFI000000000000000001","scene":"RENEWAL","testFlag":"1"}',
        signature: 'EB074AB1C6E4597965046263746449AAEFA260D0D96D39C6FF846C146E535D7B',
      },
      {
        key: 'TestAccessKey0123456789',
        nonce: 'Of4lsV7H1qrzVDI52O5CFk2ofPcZRaA6',
        ts: 1729566664115,
        body: '{"activity":"orderNotify","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}',
        signature: '120ECE83F9D6085241DBC59BCB72B860D948DAFC89F75545E6FB6AEFB305160A',
      },
    ];
    for (const c of cases) {
      const caller = new MarketplaceCaller({ url: 'https://isv.example.com/produce', accessKeys: { default: c.key } });
      const params = JSON.parse(c.body) as Record<string, string>;
      const req = caller.prepare(params, { now: at(c.ts), nonce: c.nonce, rawBody: c.body });
      const q = new URL(req.url).searchParams;
      expect(req.method).toBe('POST');
      expect(req.body).toBe(c.body);
      expect(q.get('timestamp')).toBe(String(c.ts));
      expect(q.get('nonce')).toBe(c.nonce);
      expect(q.get('signature')).toBe(c.signature);
    }
  });
});
