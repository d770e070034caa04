import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuseV1Options, getCurrentFuseWire } from '@electron/fuses';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AfterPackContextLike, applyFuses, electronBinaryPath, FUSES, fuseConfigFor } from './afterPack';

// Electron's fuse wire: a sentinel, the wire version, its length, then one byte per fuse ('0', '1', 'r').
const SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const ALL_ON_EXCEPT_LAST = '11111110';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'licensor-fuses-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ctx = (platform: string, arch = 1): AfterPackContextLike => ({
  appOutDir: dir,
  electronPlatformName: platform,
  arch,
  packager: { appInfo: { productFilename: 'Licensor Demo' }, executableName: 'licensor-demo' },
});

/** A stand-in Electron binary: random bytes around a real-format fuse wire with every fuse on. */
function fakeElectron(path: string) {
  const wire = Buffer.concat([Buffer.from(SENTINEL), Buffer.from([1, 8]), Buffer.from(ALL_ON_EXCEPT_LAST)]);
  writeFileSync(path, Buffer.concat([Buffer.alloc(4096, 7), wire, Buffer.alloc(4096, 9)]));
}

describe('afterPack fuses', () => {
  it('finds the binary that carries the fuse wire on each platform', () => {
    expect(electronBinaryPath(ctx('linux'))).toBe(join(dir, 'licensor-demo'));
    expect(electronBinaryPath(ctx('win32'))).toBe(join(dir, 'Licensor Demo.exe'));
    expect(electronBinaryPath(ctx('darwin'))).toBe(join(dir, 'Licensor Demo.app'));
  });

  it('re-signs ad hoc only for Apple-silicon builds', () => {
    expect(fuseConfigFor(ctx('darwin', 3)).resetAdHocDarwinSignature).toBe(true);
    expect(fuseConfigFor(ctx('darwin', 1)).resetAdHocDarwinSignature).toBe(false);
    expect(fuseConfigFor(ctx('linux', 3)).resetAdHocDarwinSignature).toBe(false);
  });

  it('flips the fuses in a real-format binary to the hardened settings', async () => {
    const binary = join(dir, 'licensor-demo');
    fakeElectron(binary);
    const before = readFileSync(binary);
    await applyFuses(ctx('linux'));
    const wire = await getCurrentFuseWire(binary);
    const on = (o: FuseV1Options) => wire[o] === 49; // '1'
    expect(on(FuseV1Options.RunAsNode)).toBe(false);
    expect(on(FuseV1Options.EnableNodeOptionsEnvironmentVariable)).toBe(false);
    expect(on(FuseV1Options.EnableNodeCliInspectArguments)).toBe(false);
    expect(on(FuseV1Options.OnlyLoadAppFromAsar)).toBe(true);
    expect(on(FuseV1Options.EnableEmbeddedAsarIntegrityValidation)).toBe(true);
    expect(on(FuseV1Options.EnableCookieEncryption)).toBe(true);
    expect(on(FuseV1Options.GrantFileProtocolExtraPrivileges)).toBe(false);
    // Only the wire changed.
    const after = readFileSync(binary);
    expect(after.length).toBe(before.length);
    expect(after.subarray(0, 4096)).toEqual(before.subarray(0, 4096));
  });

  it('fails the build when the binary has no fuse wire (never ships unflipped)', async () => {
    writeFileSync(join(dir, 'licensor-demo'), Buffer.alloc(1024));
    await expect(applyFuses(ctx('linux'))).rejects.toThrow(/sentinel/);
  });

  it('sets every fuse @electron/fuses knows', () => {
    const known = Object.values(FuseV1Options).filter((v) => typeof v === 'number');
    expect(Object.keys(FUSES).map(Number).sort()).toEqual(known.sort());
  });
});
