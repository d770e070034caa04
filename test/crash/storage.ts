import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Answer, admin, compactTime, Device, Marketplace } from './harness';

/**
 * Storage faults: what every write path answers while the database cannot be written, and that the same
 * requests succeed once it can. Used by test/reliability-storage.e2e.test.ts, both in-process (read-only
 * database through `PRAGMA query_only`) and with a real server process on a full tmpfs.
 */

const DAY = 86_400_000;

/** Whether this machine lets us mount a tmpfs (root / CAP_SYS_ADMIN): mounts and unmounts a tiny one. */
export function canMountTmpfs(): boolean {
  const probe = mountTmpfs(1);
  probe?.unmount();
  return probe !== undefined;
}

/** Mounts a tmpfs of `sizeMb` (needs root / CAP_SYS_ADMIN); undefined when this machine does not allow it. */
export function mountTmpfs(sizeMb: number): { dir: string; unmount(): void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'licensor-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    unmount: () => {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Fills the file system holding `dir` until ENOSPC; returns the filler's path (delete it to free the space). */
export function fillDisk(dir: string): string {
  const path = join(dir, 'filler.bin');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  // Whatever is left is smaller than a chunk: take it byte by byte.
  const byte = Buffer.alloc(1, 1);
  try {
    for (;;) writeSync(fd, byte);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

export function makeDataDir(parent: string): string {
  const dir = join(parent, 'data');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface WriteProbe {
  name: string;
  /** Sends the request (fresh signatures and nonces each time). */
  send(): Promise<Answer>;
  /** The answer is a success (the write was acknowledged). */
  succeeded(a: Answer): boolean;
  /** The answer is the documented storage error: 000005 on the production interface, 503 on the APIs. */
  storageError(a: Answer): boolean;
}

/**
 * One request of every write path: a purchase (A), a renewal, a family-C instance, a code freeze (B), an
 * operator registration, a device activation and a signed check-in. `setup` creates what they refer to.
 */
export async function writeProbes(base: string, tag: string, sim: { addOrder(o: object): unknown }) {
  const koo = new Marketplace(base);
  const setupOrder = await koo.get({
    activity: 'getLicense',
    businessId: 'b',
    customerId: 'c',
    orderId: `ST-${tag}-SETUP`,
    productId: 'P1',
    amount: '5',
  });
  const instanceId = String(setupOrder.json.instanceId);
  const license = String(setupOrder.json.license);
  await admin(base, 'POST', '/codes', { code: `PLSTORAGE${tag}0`, productId: 'P1', seats: 1 });
  const existing = new Device(`storage-${tag}-existing`);
  const activated = await existing.activate(base, license);
  const activationId = String(activated.json.activationId);
  if (!setupOrder.json.license || activated.status !== 200) {
    throw new Error(`storage probe setup failed: ${setupOrder.text} ${activated.text}`);
  }
  const kooOk = (a: Answer) => a.status === 200 && a.json.resultCode === '000000';
  const kooErr = (a: Answer) => a.status === 200 && a.json.resultCode === '000005';
  const apiOk = (a: Answer) => a.status >= 200 && a.status < 300;
  const apiErr = (a: Answer) =>
    a.status === 503 && (a.json.error as { code?: string } | undefined)?.code === 'STORAGE_UNAVAILABLE';
  const fresh = new Device(`storage-${tag}-new`);
  sim.addOrder({ orderId: `ST-${tag}-C`, orderLineId: `ST-${tag}-C-L1`, linearValue: 2 });
  const probes: WriteProbe[] = [
    {
      name: 'getLicense (new order)',
      send: () =>
        koo.get({
          activity: 'getLicense',
          businessId: 'b',
          customerId: 'c',
          orderId: `ST-${tag}-NEW`,
          productId: 'P1',
        }),
      succeeded: kooOk,
      storageError: kooErr,
    },
    {
      name: 'refreshLicense',
      send: () =>
        koo.get({
          activity: 'refreshLicense',
          orderId: `ST-${tag}-RENEW`,
          instanceId,
          expireTime: compactTime(new Date(Date.now() + 400 * DAY)),
        }),
      succeeded: kooOk,
      storageError: kooErr,
    },
    {
      name: 'newInstance',
      send: () =>
        koo.post({ activity: 'newInstance', orderId: `ST-${tag}-C`, orderLineId: `ST-${tag}-C-L1`, businessId: 'b' }),
      succeeded: (a) => a.status === 200 && (a.json.resultCode === '000000' || a.json.resultCode === '000004'),
      storageError: kooErr,
    },
    {
      name: 'updateLicenseCodeStatus',
      send: () => koo.post({ activity: 'updateLicenseCodeStatus', license: `PLSTORAGE${tag}0`, status: 'FREEZE' }),
      succeeded: kooOk,
      storageError: kooErr,
    },
    {
      name: 'admin: register code',
      send: () => admin(base, 'POST', '/codes', { code: `PLSTORAGE${tag}1`, productId: 'P1', seats: 1 }),
      succeeded: apiOk,
      storageError: apiErr,
    },
    {
      name: 'activate (new device)',
      send: () => fresh.activate(base, license),
      succeeded: apiOk,
      storageError: apiErr,
    },
    {
      name: 'check-in',
      send: () => existing.checkIn(base, activationId),
      succeeded: (a) => a.status === 200 && a.json.status === 'VALID',
      storageError: apiErr,
    },
  ];
  return { probes, instanceId, license, freshDevice: fresh };
}
