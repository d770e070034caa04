import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from './secretBox';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'licensor-kit-box-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('SecretBox', () => {
  it('round-trips, never stores the plaintext, and uses a fresh IV each time', () => {
    const box = SecretBox.ephemeral();
    const a = box.seal('s3cret-value', 'row-1');
    const b = box.seal('s3cret-value', 'row-1');
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(a).toMatch(/^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$/);
    expect(box.open(a, 'row-1')).toBe('s3cret-value');
    expect(box.open(box.seal('', 'r'), 'r')).toBe('');
  });

  it('refuses a value moved to another row, tampered with, or sealed by another key', () => {
    const box = SecretBox.ephemeral();
    const sealed = box.seal('secret', 'row-1');
    expect(() => box.open(sealed, 'row-2')).toThrow(expect.objectContaining({ code: 'KEY_DECRYPT_FAILED' }));
    const [v, kid, data] = sealed.split('.');
    const raw = Buffer.from(data!, 'base64url');
    raw[raw.length - 1]! ^= 1;
    expect(() => box.open(`${v}.${kid}.${raw.toString('base64url')}`, 'row-1')).toThrow(/failed authentication/);
    expect(() => SecretBox.ephemeral().open(sealed, 'row-1')).toThrow(/restore <data>\/secrets\/kit.key/);
    expect(() => box.open('plain text', 'row-1')).toThrow(/Not a sealed Kit secret/);
    expect(() => box.open(`v1.${kid}.AAAA`, 'row-1')).toThrow(/truncated/);
  });

  it('keeps its key in <data>/secrets/kit.key (owner-only) and reads the same key after a restart', () => {
    const dir = tempDir();
    const first = SecretBox.load(dir);
    const sealed = first.seal('secret', 'aad');
    const file = join(dir, 'secrets', 'kit.key');
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = SecretBox.load(dir);
    expect(again.keyId).toBe(first.keyId);
    expect(again.open(sealed, 'aad')).toBe('secret');
    expect(readFileSync(file, 'utf8')).not.toContain('secret');
  });

  it('says what to do when the key file is damaged', () => {
    const dir = tempDir();
    SecretBox.load(dir);
    writeFileSync(join(dir, 'secrets', 'kit.key'), 'too-short');
    expect(() => SecretBox.load(dir)).toThrow(/restore it from backup, or delete it/);
  });

  it('shares one box per data folder inside a process', () => {
    const dir = tempDir();
    expect(SecretBox.forDataDir(dir)).toBe(SecretBox.forDataDir(dir));
    expect(SecretBox.forDataDir(':memory:')).toBe(SecretBox.forDataDir(':memory:'));
  });
});
