import { familyAStory, familyBStory, familyCStory, faultStory, type Step } from '@licensor/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type World } from './demo/world';

/**
 * Marketplace → server → client, for real: each family's whole lifecycle with the real @licensor/client,
 * and each injected marketplace fault with its expected recovery (outbox retries, duplicates collapse,
 * nothing lost).
 */

let world: World;
const lines: string[] = [];

beforeAll(async () => {
  world = await startWorld({ print: (l) => lines.push(l), kooTimeoutMs: 1000 });
});
afterAll(async () => {
  await world?.close();
});

function expectAllPassed(steps: Step[]) {
  const failed = steps.filter((s) => !s.ok);
  expect(failed, `${failed.map((f) => `${f.title}: ${f.detail}`).join('\n')}\n${lines.slice(-20).join('\n')}`).toEqual(
    [],
  );
  expect(steps.length).toBeGreaterThan(5);
}

describe('license lifecycles across marketplace, server and client', () => {
  it('family A: purchase → activate → offline restart → renew → expire → renew → release', async () => {
    const desktop = world.desktop();
    expectAllPassed(await familyAStory({ caller: world.caller, sim: world.sim, client: desktop }));
    await desktop.manager().stop();
  });

  it('family B: marketplace code activated at first use → renew → freeze → unfreeze → release', async () => {
    const desktop = world.desktop();
    expectAllPassed(await familyBStory({ caller: world.caller, sim: world.sim, client: desktop }));
    await desktop.manager().stop();
  });

  it('family C: newInstance → getLicenseAsync upload → activate → renew → freeze → unfreeze → release', async () => {
    const desktop = world.desktop();
    expectAllPassed(await familyCStory({ caller: world.caller, sim: world.sim, client: desktop }));
    await desktop.manager().stop();
  });
});

describe('marketplace faults and recovery', () => {
  it('slow, failing and dropping marketplace, duplicate deliveries and clock skew', async () => {
    expectAllPassed(await faultStory({ caller: world.caller, sim: world.sim }, world.makeCaller, { slowMs: 1500 }));
  }, 90_000);
});
