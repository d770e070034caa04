/**
 * `licensor-client status` runs dist/status.bundle.cjs (zod replaced by src/zodLite.ts); every other command line runs
 * dist/cli.bundle.cjs. The two must give the same verdict, output and exit code for any state and License file:
 * valid, tampered (bytes flipped), malformed (envelope or payload fields wrong, which zod words), from another machine
 * or product. Each case runs both bundles on identical copies of the same data folder.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LICENSE_ARMOR_BEGIN, LICENSE_ARMOR_END } from '@licensor/shared';
import { BASE_READINGS, DAY, licenseFor, PRODUCT, pki, tempDir } from '@licensor/testkit/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCachedBundle } from './codeCache';
import { fingerprintFromReadings, hashedFingerprint } from './fingerprint';
import { type StateBody, StateStore, stateFileName } from './store';

type Main = (argv: string[], io: unknown) => Promise<number>;
interface Bundle {
  main: Main;
  statusArgs?: (args: string[]) => unknown;
  fingerprintFromReadings: typeof fingerprintFromReadings;
}

const work = tempDir('licensor-status-bundle-');
afterAll(() => work.cleanup());
const dist = join(import.meta.dirname, '..', 'dist');
let status: Bundle;
let full: Bundle;

beforeAll(async () => {
  const build = pathToFileURL(join(import.meta.dirname, '..', '..', '..', 'scripts', 'build.mjs')).href;
  const { ensureBuilt } = (await import(build)) as { ensureBuilt: (names: string[]) => Promise<string[]> };
  await ensureBuilt(['client']);
  const cacheDir = join(work.dir, 'code-cache');
  status = loadCachedBundle(join(dist, 'status.bundle.cjs'), { cacheDir }).exports as unknown as Bundle;
  full = loadCachedBundle(join(dist, 'cli.bundle.cjs'), { cacheDir }).exports as unknown as Bundle;
}, 120_000);

const NOW = Date.now();
const fp = fingerprintFromReadings(BASE_READINGS);
const hashed = hashedFingerprint(fp, PRODUCT);
let counter = 0;

/** A data folder holding an authentic state with this body (written by the client's own store). */
function stateWith(body: Partial<StateBody>): string {
  const dir = join(work.dir, `case-${counter++}`);
  mkdirSync(dir);
  new StateStore({ dataDir: dir, productId: PRODUCT }).save(
    { v: 1, productId: PRODUCT, highWater: NOW, ...body } as StateBody,
    fp,
  );
  return dir;
}

const armour = (envelope: unknown) =>
  `${LICENSE_ARMOR_BEGIN}\n${Buffer.from(JSON.stringify(envelope)).toString('base64')}\n${LICENSE_ARMOR_END}\n`;
const envelopeOf = (license: string) =>
  JSON.parse(
    Buffer.from(
      license.slice(
        license.indexOf(LICENSE_ARMOR_BEGIN) + LICENSE_ARMOR_BEGIN.length,
        license.indexOf(LICENSE_ARMOR_END),
      ),
      'base64',
    ).toString('utf8'),
  );
const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Runs `status` of one bundle on a copy of `dataDir`: exit code, stdout (checkedAt aside), stderr. */
async function run(bundle: Bundle, dataDir: string, json: boolean) {
  const copy = `${dataDir}-${bundle === status ? 'status' : 'full'}-${counter++}`;
  cpSync(dataDir, copy, { recursive: true });
  let stdout = '';
  let stderr = '';
  const argv = [process.execPath, 'licensor-client', ...(json ? ['--json'] : []), '--product', PRODUCT];
  const code = await bundle.main([...argv, '--root', pki().rootPem, '--data-dir', copy, 'status'], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { XDG_STATE_HOME: join(copy, 'anchors') },
    fingerprint: () => bundle.fingerprintFromReadings(BASE_READINGS),
    now: () => NOW,
  });
  return { code, stdout: stdout.replaceAll(copy, '<data>'), stderr: stderr.replaceAll(copy, '<data>') };
}

async function same(dataDir: string): Promise<string> {
  for (const json of [true, false]) {
    const a = await run(status, dataDir, json);
    const b = await run(full, dataDir, json);
    expect(a).toStrictEqual(b);
  }
  const { stdout } = await run(status, dataDir, true);
  const verdict = JSON.parse(stdout) as { code?: string; detail?: { reason?: string } };
  return verdict.detail?.reason && verdict.code === 'FILE_SIGNATURE_INVALID'
    ? `${verdict.code}/${verdict.detail.reason}`
    : (verdict.code ?? 'error');
}

describe('the status bundle (zodLite) and the full CLI bundle (zod) give the same verdict', () => {
  const valid = licenseFor(hashed, { now: NOW - DAY });

  it('the bin sends only `status` command lines to the status bundle', () => {
    expect(status.statusArgs?.(['--json', 'status'])).toBeTruthy();
    expect(status.statusArgs?.(['check-in'])).toBeUndefined();
    expect(status.statusArgs?.(['status', '--help'])).toBeUndefined();
  });

  it('on a valid License, no state, and a License of another machine or product', async () => {
    expect(await same(stateWith({ license: valid, activationId: 'a-1', deviceLabel: 'pc' }))).toBe('VALID');
    const empty = join(work.dir, `case-${counter++}`);
    mkdirSync(empty);
    expect(await same(empty)).toBe('NO_LICENSE');
    const other = licenseFor(hashedFingerprint(fingerprintFromReadings({ machineId: 'x', cpu: 'y' }), PRODUCT), {
      now: NOW - DAY,
    });
    expect(await same(stateWith({ license: other }))).toBe('FINGERPRINT_MISMATCH');
    expect(await same(stateWith({ license: licenseFor(hashed, { now: NOW - DAY, product: 'other' }) }))).toBe(
      'PRODUCT_MISMATCH',
    );
    expect(await same(stateWith({ license: licenseFor(hashed, { now: NOW - 400 * DAY }) }))).toBe('EXPIRED');
  });

  it('on a state file with bytes flipped or cut (tampered, unreadable)', async () => {
    const dir = stateWith({ license: valid, activationId: 'a-1' });
    const file = join(dir, stateFileName(PRODUCT));
    const text = readFileSync(file);
    const codes = new Set<string>();
    for (const at of [0, 1, 10, 40, 100, 200, 400, Math.floor(text.length / 2), text.length - 40, text.length - 2]) {
      const flipped = Buffer.from(text);
      flipped[at] = flipped[at]! ^ 0x04;
      const copy = `${dir}-flip-${at}`;
      cpSync(dir, copy, { recursive: true });
      writeFileSync(join(copy, stateFileName(PRODUCT)), flipped);
      codes.add(await same(copy));
    }
    const cut = `${dir}-cut`;
    cpSync(dir, cut, { recursive: true });
    writeFileSync(join(cut, stateFileName(PRODUCT)), text.subarray(0, text.length >> 1));
    codes.add(await same(cut));
    const wrongShape = `${dir}-shape`;
    cpSync(dir, wrongShape, { recursive: true });
    const envelope = JSON.parse(text.toString('utf8'));
    writeFileSync(join(wrongShape, stateFileName(PRODUCT)), JSON.stringify({ ...envelope, keys: [1, 2] }));
    codes.add(await same(wrongShape));
    expect([...codes].every((c) => c === 'STATE_TAMPERED')).toBe(true);
  });

  it('on malformed License files in an authentic state (found by zod, as before)', async () => {
    const envelope = envelopeOf(valid);
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64url').toString('utf8'));
    const licenses = [
      'not a license',
      valid.replace('A', 'B'),
      armour({ ...envelope, kid: 'short' }),
      armour({ ...envelope, x5c: [] }),
      armour({ ...envelope, extra: 1 }),
      armour({ ...envelope, payload: b64u({ ...payload, seats: -1 }) }),
      armour({ ...envelope, payload: b64u({ ...payload, issuedAt: '2025-02-30T00:00:00Z', status: 'lost' }) }),
      armour({ ...envelope, payload: b64u({ ...payload, fingerprint: { rule: { type: 'all' } } }) }),
      armour({ ...envelope, payload: b64u({ ...payload, lid: '' }) }),
      armour({ ...envelope, payload: b64u({ ...payload, unknownClaim: true }) }), // tolerated, then the signature
    ];
    const codes = new Set<string>();
    for (const license of licenses) codes.add(await same(stateWith({ license })));
    expect(codes).toContain('FILE_SIGNATURE_INVALID/FILE_MALFORMED'); // the envelope or payload zod refused
    expect(codes).toContain('FILE_SIGNATURE_INVALID/FILE_SIGNATURE_INVALID'); // well formed, signature broken
  });

  it('on a stored verdict record that is not one, and a state body edited by hand', async () => {
    expect(await same(stateWith({ license: valid, verdictRecord: 'garbage' }))).toBeTypeOf('string');
    const dir = stateWith({ license: valid });
    const file = join(dir, stateFileName(PRODUCT));
    const text = JSON.parse(readFileSync(file, 'utf8'));
    text.body.highWater = 'soon';
    writeFileSync(file, JSON.stringify(text));
    expect(await same(dir)).toBe('STATE_TAMPERED');
  });

  it('carries zod inside, and a valid `status` never runs its top level (an invalid input does)', () => {
    // A fresh process: this one has loaded zod already. zod's top level sets globalThis.__zod_globalRegistry.
    // BREAK_COMPILE: the carried zod's text cannot be compiled (vm.compileFunction throws): the start must fail,
    // with no verdict, rather than read the input as anything.
    const probe = `
      if (process.env.BREAK_COMPILE) require('node:vm').compileFunction = () => { throw new Error('cannot compile'); };
      const { main, fingerprintFromReadings } = require(process.env.BUNDLE);
      let out = '';
      main([process.execPath, 'licensor-client', '--json', '--product', process.env.PRODUCT, '--root', process.env.ROOT,
        '--data-dir', process.env.DATA, 'status'], {
        stdout: { write: (s) => (out += s) }, stderr: { write: () => {} }, env: { XDG_STATE_HOME: process.env.DATA + '/anchors' },
        fingerprint: () => fingerprintFromReadings(JSON.parse(process.env.READINGS)), now: () => Number(process.env.NOW),
      }).then(() => console.log(JSON.stringify({ code: JSON.parse(out).code, zodRan: globalThis.__zod_globalRegistry !== undefined })),
        (err) => console.log(JSON.stringify({ error: err.name, out })));`;
    const runIn = (data: string, breakCompile = false) =>
      JSON.parse(
        execFileSync(process.execPath, ['-e', probe], {
          env: {
            PATH: process.env.PATH,
            BUNDLE: join(dist, 'status.bundle.cjs'),
            PRODUCT,
            ROOT: pki().rootPem,
            DATA: data,
            READINGS: JSON.stringify(BASE_READINGS),
            NOW: String(NOW),
            ...(breakCompile ? { BREAK_COMPILE: '1' } : {}),
          },
          encoding: 'utf8',
        }),
      ) as { code: string; zodRan: boolean } | { error: string; out: string };
    expect(runIn(stateWith({ license: valid, activationId: 'a-1' }))).toStrictEqual({ code: 'VALID', zodRan: false });
    const envelope = envelopeOf(valid);
    // Malformed: the fast path leaves it to zod, which must be there although node_modules is not consulted.
    const malformed = stateWith({ license: armour({ ...envelope, kid: 'short' }) });
    expect(runIn(malformed)).toStrictEqual({ code: 'FILE_SIGNATURE_INVALID', zodRan: true });
    // zod is carried as text, compiled only for a replay: a valid start never compiles it, a replay that cannot
    // compile it fails the command with no output.
    expect(runIn(stateWith({ license: valid, activationId: 'a-1' }), true)).toStrictEqual({
      code: 'VALID',
      zodRan: false,
    });
    expect(runIn(malformed, true)).toStrictEqual({ error: 'ZodReplayError', out: '' });
    expect(readFileSync(join(dist, 'status.bundle.cjs'), 'latin1')).not.toMatch(/require\("zod/);
  });

  it('the bin runs every command, `status` included, with the status bundle missing or throwing at load', () => {
    // An installed layout (no src/: the bin does not rebuild): the bin, the loader and the full bundle only.
    const pkg = join(work.dir, 'installed');
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    mkdirSync(join(pkg, 'dist'));
    cpSync(join(dist, '..', 'bin', 'licensor-client.cjs'), join(pkg, 'bin', 'licensor-client.cjs'));
    for (const f of ['codeCache.cjs', 'cli.bundle.cjs']) cpSync(join(dist, f), join(pkg, 'dist', f));
    const empty = join(work.dir, `case-${counter++}`);
    mkdirSync(empty);
    const bin = (...args: string[]) =>
      spawnSync(process.execPath, [join(pkg, 'bin', 'licensor-client.cjs'), ...args], {
        env: { PATH: process.env.PATH, XDG_CACHE_HOME: join(work.dir, 'bin-cache'), XDG_STATE_HOME: empty },
        encoding: 'utf8',
      });
    const status = ['--json', '--product', PRODUCT, '--root', pki().rootPem, '--data-dir', empty, 'status'];
    for (const broken of [undefined, "throw new Error('broken bundle');\n"]) {
      if (broken) writeFileSync(join(pkg, 'dist', 'status.bundle.cjs'), broken);
      const help = bin('--help');
      expect(help.status, help.stderr).toBe(0);
      expect(help.stdout).toContain('activate');
      const s = bin(...status);
      expect(JSON.parse(s.stdout).code, s.stderr).toBe('NO_LICENSE');
    }
  });
});
