import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { openApiHint, runSimulation } from './command';
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

describe('simulate run on a port in use', () => {
  it('is refused with the port and the option that picks another, not a crash', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = String((holder.address() as net.AddressInfo).port);
    try {
      const run = runSimulation(
        { url: 'http://127.0.0.1:1/', ak: 'AK', sk: 'SK', simPort: port, family: 'tour', retryScale: '0' },
        () => {},
      );
      await expect(run).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(run).rejects.toThrow(`Port ${port} on 127.0.0.1 is in use`);
      await expect(run).rejects.toThrow('--sim-port');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
