import { describe, expect, it } from 'vitest';
import { openApiHint } from './command';
import type { SimCall } from './marketplace';

const call = (authOk: boolean): SimCall => ({
  method: 'POST',
  path: '/api/mkp-openapi-public/global/v1/order/query',
  status: authOk ? 200 : 401,
  code: authOk ? 'MKT.0000' : 'APIGW.0301',
  authOk,
  at: new Date(0).toISOString(),
});

describe('simulate run: why the open-API steps failed', () => {
  const base = 'http://127.0.0.1:9911';

  it('says where to point the server when it never called the simulator (another LICENSOR_KOO_API_BASE)', () => {
    const hint = openApiHint({ calls: [], held: [] }, base, 'AK');
    expect(hint).toContain('made no call to the simulated open APIs at http://127.0.0.1:9911');
    expect(hint).toContain('LICENSOR_KOO_API_BASE=http://127.0.0.1:9911 LICENSOR_KOO_AK=AK');
  });

  it('names the AK/SK when every call was refused for them', () => {
    expect(openApiHint({ calls: [call(false), call(false)], held: [] }, base, 'AK')).toContain(
      'LICENSOR_KOO_AK and LICENSOR_KOO_SK equal to --ak and --sk',
    );
  });

  it('says nothing when the server reached the simulator with valid credentials', () => {
    expect(openApiHint({ calls: [call(false), call(true)], held: [] }, base, 'AK')).toBeUndefined();
  });
});
