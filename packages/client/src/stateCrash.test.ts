/**
 * The unlucky user's process dies while it saves the license state (power cut, task manager, OOM killer), and
 * two OS accounts share one data folder. No server: offline files, an injected clock and fingerprint.
 *
 * A kill is simulated at one exact point: `node:fs.writeSync` writes part of the state (anchor, salt) bytes and
 * throws; the manager that was writing is then dropped (the "process" is gone) and a new one starts.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clock, licenseFor, machine, PRODUCT, pki, tempFolders } from '@licensor/testkit/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LicenseManager, type LicenseManagerOptions } from './manager';
import { stateFileName } from './store';

const failpoint = vi.hoisted(() => ({
  armed: undefined as undefined | 'state' | 'anchor' | 'salt',
  hits: 0,
  /** Paths whose reads fail with EACCES, as another OS account's 0600 file does (the tests run as root). */
  unreadable: new Set<string>(),
}));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((fd: number, data: unknown, ...rest: unknown[]) => {
    const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : '';
    const what = /^[0-9a-f]{64}\n$/.test(text)
      ? 'salt'
      : text.includes('"licensor-client-state"')
        ? 'state'
        : text.startsWith('{"v":1,"generation"')
          ? 'anchor'
          : undefined;
    if (what && what === failpoint.armed) {
      failpoint.armed = undefined;
      failpoint.hits++;
      fs.writeSync(fd, Buffer.from(text).subarray(0, Math.floor(text.length / 2)));
      throw Object.assign(new Error('killed mid-write (test failpoint)'), { code: 'EKILLED' });
    }
    return (fs.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
  }) as typeof fs.writeSync;
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    if (typeof path === 'string' && failpoint.unreadable.has(path)) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
    }
    return (fs.readFileSync as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, writeSync, readFileSync }, writeSync, readFileSync };
});

const folder = tempFolders();
/** Backdates a file by two minutes (temporary files younger than a minute are never removed). */
const age = (file: string) => utimesSync(file, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
afterEach(() => {
  failpoint.armed = undefined;
  failpoint.hits = 0;
  failpoint.unreadable.clear();
});

function install(opts: { dataDir?: string; anchorDir?: string; c?: ReturnType<typeof clock> } = {}) {
  const dataDir = opts.dataDir ?? folder('licensor-crash-data-');
  const anchorDir = opts.anchorDir ?? folder('licensor-crash-anchors-');
  const c = opts.c ?? clock(Date.UTC(2026, 0, 10));
  const make = (more: Partial<LicenseManagerOptions> = {}) =>
    new LicenseManager({
      productId: PRODUCT,
      roots: [pki().rootPem],
      dataDir,
      anchorDir,
      fingerprint: () => machine(),
      now: c,
      ...more,
    });
  const anchorPath = () => join(anchorDir, readdirSync(anchorDir).find((f) => f.endsWith('.json'))!);
  const generation = () =>
    JSON.parse(readFileSync(join(dataDir, stateFileName(PRODUCT)), 'utf8')).body.generation as number;
  return { dataDir, anchorDir, c, make, anchorPath, generation, statePath: join(dataDir, stateFileName(PRODUCT)) };
}

describe('a process killed while it saves the state', () => {
  it('mid-way through the state file: the next start reads the previous state, VALID, and saves again', async () => {
    const app = install();
    expect((await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }))).code).toBe('VALID');
    const before = readFileSync(app.statePath, 'utf8');

    // verify() persists the high-water mark when the clock moved on by more than a minute: that save is killed.
    app.c.advance(10 * 60_000);
    failpoint.armed = 'state';
    const dying = app.make();
    expect((await dying.verify()).code).toBe('VALID'); // a failed high-water save never turns VALID invalid
    expect(failpoint.hits).toBe(1);
    expect(readFileSync(app.statePath, 'utf8')).toBe(before); // the old bytes, not half of the new ones
    expect(readdirSync(app.dataDir).filter((f) => f.endsWith('.tmp'))).toHaveLength(1); // what the kill left

    // The next process: the same verdict (not STATE_TAMPERED, not a rolled-back state), and it saves again.
    expect(await app.make().verify()).toMatchObject({ valid: true, code: 'VALID' });
    expect(app.generation()).toBe(2);
    expect(JSON.parse(readFileSync(app.anchorPath(), 'utf8'))).toMatchObject({ generation: 2 });
    // What the kill left goes with a later save once it is a minute old (the dying writer was this process).
    const [left] = readdirSync(app.dataDir).filter((f) => f.endsWith('.tmp'));
    age(join(app.dataDir, left!));
    app.c.advance(10 * 60_000);
    expect((await app.make().verify()).code).toBe('VALID');
    expect(readdirSync(app.dataDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a save removes temporary files of writers that no longer run, never those of a running one', async () => {
    const app = install();
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }));
    const state = app.statePath;
    const dead = `${state}.${2 ** 22 + 1}.0123abcd.tmp`; // above any pid_max: no such process
    const deadJustNow = `${state}.${2 ** 22 + 1}.4567abcd.tmp`; // as young as a write in progress elsewhere
    const running = `${state}.${process.ppid}.0123abcd.tmp`; // vitest's main process, writing at this moment
    const other = `${state}.bak`;
    for (const f of [dead, deadJustNow, running, other]) writeFileSync(f, 'partial');
    for (const f of [dead, running, other]) age(f);
    app.c.advance(10 * 60_000);
    expect((await app.make().verify()).code).toBe('VALID'); // saves the high-water mark
    expect([dead, deadJustNow, running, other].map((f) => existsSync(f))).toEqual([false, true, true, true]);
  });

  it('an import killed mid-write keeps the stored file; the import can simply be repeated', async () => {
    const app = install();
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c(), eid: 'ent-old' }));
    failpoint.armed = 'state';
    const renewed = licenseFor(undefined, { now: app.c() + 1000, eid: 'ent-new' });
    await expect(app.make().importLicenseFile(renewed)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    const after = await app.make().verify();
    expect(after).toMatchObject({ code: 'VALID', license: { entitlementId: 'ent-old' } });
    expect((await app.make().importLicenseFile(renewed)).license?.entitlementId).toBe('ent-new');
    expect((await app.make().verify()).license?.entitlementId).toBe('ent-new');
  });

  it('between the state and its anchor: the state newer than the anchor is accepted, and the anchor catches up', async () => {
    const app = install();
    await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }));
    const copy = `${app.statePath}.copy`;
    copyFileSync(app.statePath, copy); // generation 1, for the restore below
    app.c.advance(10 * 60_000);
    await app.make().verify(); // generation 2, anchor 2
    app.c.advance(10 * 60_000);
    failpoint.armed = 'anchor';
    expect((await app.make().verify()).code).toBe('VALID'); // generation 3 written; its anchor write killed
    expect(failpoint.hits).toBe(1);
    expect(app.generation()).toBe(3);
    expect(JSON.parse(readFileSync(app.anchorPath(), 'utf8'))).toMatchObject({ generation: 2 });

    expect((await app.make().verify()).code).toBe('VALID'); // never a false lock-out
    app.c.advance(10 * 60_000);
    expect((await app.make().verify()).code).toBe('VALID');
    expect(JSON.parse(readFileSync(app.anchorPath(), 'utf8'))).toMatchObject({ generation: 4 });
    // The anchor still did its job: the generation-1 copy put back is refused.
    copyFileSync(copy, app.statePath);
    expect(await app.make().verify()).toMatchObject({ code: 'TIME_MODIFIED', detail: { reason: 'state-rolled-back' } });
  });
});

describe('a process killed while it creates the install salt (the first save of an install)', () => {
  it('the next start creates a usable salt instead of failing every save with STORAGE_UNAVAILABLE', async () => {
    const app = install();
    const file = licenseFor(undefined, { now: app.c() });
    failpoint.armed = 'salt';
    await expect(app.make().importLicenseFile(file)).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(failpoint.hits).toBe(1);
    const salt = join(app.dataDir, 'install-salt');
    expect(existsSync(salt) ? readFileSync(salt, 'utf8') : '').not.toMatch(/^[0-9a-f]{64}\n$/);

    expect((await app.make().verify()).code).toBe('NO_LICENSE');
    expect((await app.make().importLicenseFile(file)).code).toBe('VALID');
    expect((await app.make().verify()).code).toBe('VALID');
  });

  it('an empty salt left by a power cut (created, never written) beside no state is replaced too', async () => {
    const app = install();
    writeFileSync(join(app.dataDir, 'install-salt'), '', { mode: 0o600 });
    expect((await app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }))).code).toBe('VALID');
    expect((await app.make().verify()).code).toBe('VALID');
  });

  it("a salt this process cannot read (another OS account's) is left in place, not replaced", async () => {
    const app = install();
    const salt = join(app.dataDir, 'install-salt');
    const theirs = `${'ab'.repeat(32)}\n`;
    writeFileSync(salt, theirs, { mode: 0o600 });
    failpoint.unreadable.add(salt);
    await expect(app.make().importLicenseFile(licenseFor(undefined, { now: app.c() }))).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
    });
    failpoint.unreadable.clear();
    expect(readFileSync(salt, 'utf8')).toBe(theirs);
  });
});

describe('reset() in a fresh process', () => {
  it('never lowers the anti-rollback anchor, whatever generation the state file claims', async () => {
    const app = install();
    const file = licenseFor(undefined, { now: app.c() });
    await app.make().importLicenseFile(file);
    for (let i = 0; i < 3; i++) {
      app.c.advance(10 * 60_000);
      expect((await app.make().verify()).code).toBe('VALID');
    }
    const anchor = JSON.parse(readFileSync(app.anchorPath(), 'utf8'));
    expect(anchor.generation).toBe(4);
    // Whoever holds the data folder writes a low generation into the state file, then a new process resets.
    const state = JSON.parse(readFileSync(app.statePath, 'utf8'));
    writeFileSync(app.statePath, JSON.stringify({ ...state, body: { ...state.body, generation: 1 } }));
    await app.make().reset();
    expect(JSON.parse(readFileSync(app.anchorPath(), 'utf8'))).toEqual(anchor);
    // A new import continues above the anchor and keeps its high-water mark.
    expect((await app.make().importLicenseFile(file)).code).toBe('VALID');
    expect(JSON.parse(readFileSync(app.anchorPath(), 'utf8'))).toMatchObject({
      generation: 5,
      highWater: anchor.highWater,
    });
  });
});

describe('two OS accounts on one machine', () => {
  it('not sharing: a restore by one account is refused for it alone, even with one anchor folder for both', async () => {
    // The harshest case: an app that keeps anchors in one machine-wide folder. Each install's anchor is its own.
    const c = clock(Date.UTC(2026, 0, 10));
    const anchorDir = folder('licensor-crash-machine-anchors-');
    const alice = install({ c, anchorDir });
    const bob = install({ c, anchorDir });
    await alice.make().importLicenseFile(licenseFor(undefined, { now: c() }));
    await bob.make().importLicenseFile(licenseFor(undefined, { now: c(), eid: 'ent-bob' }));
    const aliceCopy = readFileSync(alice.statePath);
    for (let i = 0; i < 2; i++) {
      c.advance(10 * 60_000);
      expect((await alice.make().verify()).code).toBe('VALID'); // saves: generations 2 and 3
    }
    expect(readdirSync(anchorDir)).toHaveLength(2);
    writeFileSync(alice.statePath, aliceCopy); // Alice puts her old copy back
    expect(await alice.make().verify()).toMatchObject({
      code: 'TIME_MODIFIED',
      detail: { reason: 'state-rolled-back' },
    });
    expect(await bob.make().verify()).toMatchObject({ code: 'VALID', license: { entitlementId: 'ent-bob' } });
  });

  it('sharing one data folder (each with its own anchor folder): saves by either account never lock out the other', async () => {
    // One machine, one clock; a data folder both accounts use (e.g. the app configured to C:\ProgramData\…).
    const c = clock(Date.UTC(2026, 0, 10));
    const shared = folder('licensor-crash-shared-');
    const alice = install({ dataDir: shared, c });
    const bob = install({ dataDir: shared, c });
    const file = licenseFor(undefined, { now: c() });
    expect((await alice.make().importLicenseFile(file)).code).toBe('VALID');
    // Bob uses the app for a while: each start persists the high-water mark, moving the state past Alice's anchor.
    for (let i = 0; i < 3; i++) {
      c.advance(10 * 60_000);
      expect((await bob.make().verify()).code).toBe('VALID');
    }
    expect((await alice.make().verify()).code).toBe('VALID');

    // Alice forgets the local state and imports the file again (the documented recovery from STATE_TAMPERED).
    const a = alice.make();
    await a.reset();
    expect((await a.importLicenseFile(file)).code).toBe('VALID');
    expect((await bob.make().verify()).code).toBe('VALID');
    expect((await alice.make().verify()).code).toBe('VALID');

    // The same with the reset and the import in two processes (reset now, import the file later), after Bob's
    // saves took the state two generations past Alice's anchor.
    for (let i = 0; i < 2; i++) {
      c.advance(10 * 60_000);
      expect((await bob.make().verify()).code).toBe('VALID');
    }
    await alice.make().reset();
    expect((await alice.make().importLicenseFile(file)).code).toBe('VALID');
    expect((await bob.make().verify()).code).toBe('VALID');
    expect((await alice.make().verify()).code).toBe('VALID');
  });
});
