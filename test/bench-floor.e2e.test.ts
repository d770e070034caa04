import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteDatabase } from '@licensor/server';
import { LicenseVerifier, verifyResponse } from '@licensor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  activationRequests,
  type Device,
  floorCheckInRequests,
  newDevice,
  writeFloorKeys,
} from '../packages/server/bench/activation-bench';
import { type Child, startFloor } from '../packages/server/bench/lib';

/**
 * The benchmark compares activation and check-in with their floor endpoints (packages/server/bench/floor.ts).
 * A floor that skipped part of the work would flatter nothing but itself and make every ratio meaningless, so
 * this checks it does all of it: a License file a client accepts, a signed answer, the device signature really
 * verified, and one durable row per request.
 */

let floor: Child;
let dir: string;
let keys: Device[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-floor-test-'));
  keys = [newDevice(), newDevice()];
  floor = await startFloor(writeFloorKeys(join(dir, 'keys.json'), keys));
}, 60_000);
afterAll(async () => {
  await floor?.stop();
  rmSync(dir, { recursive: true, force: true });
  if (floor) rmSync(floor.dataDir, { recursive: true, force: true });
});

const rootPem = () => readFileSync(join(floor.dataDir, 'keys', 'root.crt.pem'), 'utf8');
const publicKeyFor = (kid: string) =>
  new X509Certificate(readFileSync(join(floor.dataDir, 'keys', 'signing', `${kid}.crt.pem`), 'utf8')).publicKey;
const rows = async () => {
  const db = openSqliteDatabase(join(floor.dataDir, 'floor.db'), { migrate: false });
  try {
    return (await db.first<{ n: number }>('SELECT COUNT(*) AS n FROM floor_writes'))!.n;
  } finally {
    await db.close();
  }
};

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${floor.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, text: await res.text(), signature: res.headers.get('licensor-signature') };
}

describe('benchmark floor endpoints', () => {
  it('activation: one durable row, a License file chained to the root, a signed answer', async () => {
    const before = await rows();
    const [body] = activationRequests(['LSR-FLOOR'], 1);
    const res = await post('/floor/activations', body!);
    expect(res.status, res.text).toBe(200);
    const answer = JSON.parse(res.text) as { activationId: string; license: string };
    const file = new LicenseVerifier({ roots: [rootPem()] }).verify(answer.license);
    expect(file.payload.lid).toBe(answer.activationId);
    expect(
      verifyResponse({
        header: res.signature,
        status: 200,
        request: { method: 'POST', path: '/floor/activations' },
        nonce: '',
        body: res.text,
        publicKeyFor,
      }),
    ).toBeTruthy();
    expect(await rows()).toBe(before + 1);
  });

  it('check-in: verifies the device signature (a forged one is refused, nothing written), then writes and signs', async () => {
    const [good] = floorCheckInRequests([keys[0]!], 1);
    // The same request signed by another device's key for this device's id.
    const [forged] = floorCheckInRequests([keys[1]!], 1);
    const before = await rows();
    const refused = await post(good!.path, good!.body, { 'licensor-device-signature': forged!.signature });
    expect(refused.status).not.toBe(200);
    expect(await rows()).toBe(before);

    const res = await post(good!.path, good!.body, { 'licensor-device-signature': good!.signature });
    expect(res.status, res.text).toBe(200);
    const answer = JSON.parse(res.text) as { license: string };
    expect(new LicenseVerifier({ roots: [rootPem()] }).verify(answer.license).payload.lid).toBe('k0_0');
    expect(
      verifyResponse({
        header: res.signature,
        status: 200,
        request: { method: 'POST', path: good!.path, activationId: 'k0_0' },
        nonce: '',
        body: res.text,
        publicKeyFor,
      }),
    ).toBeTruthy();
    expect(await rows()).toBe(before + 1);
  });
});
