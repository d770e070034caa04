import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config';

describe('loadConfig', () => {
  it('has embedded defaults and derives per-type access keys from LICENSOR_KOO_ACCESS_KEY', () => {
    const c = loadConfig({ LICENSOR_KOO_ACCESS_KEY: 'A', LICENSOR_KOO_ACCESS_KEY_KIT: 'K' });
    expect(c.port).toBe(8080);
    expect(c.koo.apiBase).toBe('https://mkt.myhuaweicloud.com');
    expect(c.koo.apiFallback).toBe('https://mkt.myhuaweicloud.cn');
    expect(c.koo.accessKeys).toEqual({ basic: 'A', licenseCode: 'A', generic: 'A', kit: 'K' });
    expect(c.dataDir.endsWith('.data')).toBe(true);
  });

  it('names the variable that is wrong', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ LICENSOR_KOO_API_BASE: 'not a url' })).toThrow(/LICENSOR_KOO_API_BASE/);
    expect(() => loadConfig({ LICENSOR_KOO_AK: 'only-ak' })).toThrow(/LICENSOR_KOO_AK and LICENSOR_KOO_SK/);
    expect(() => loadConfig({ LICENSOR_ADMIN_TOKEN: 'short' })).toThrow(/LICENSOR_ADMIN_TOKEN/);
    expect(() => loadConfig({ LICENSOR_LOG_LEVEL: 'chatty' })).toThrow(/LICENSOR_LOG_LEVEL/);
  });

  it('reads an optional JSON file, with the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'licensor-config-'));
    const file = join(dir, 'licensor.json');
    writeFileSync(file, JSON.stringify({ PORT: 9000, LICENSOR_KOO_KEY: 'from-file' }));
    const c = loadConfig({ LICENSOR_CONFIG: file, LICENSOR_KOO_KEY: 'from-env' });
    expect(c.port).toBe(9000);
    expect(c.koo.key).toBe('from-env');
    writeFileSync(file, '{oops');
    expect(() => loadConfig({ LICENSOR_CONFIG: file })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ LICENSOR_CONFIG: join(dir, 'missing.json') })).toThrow(/does not exist/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', LICENSOR_KOO_KEY: '' }).koo.key).toBeUndefined();
  });

  it('takes the outbox lease from LICENSOR_OUTBOX_LEASE_SECONDS: 60 s by default, 5 s at least, longer than two marketplace calls', () => {
    expect(loadConfig({}).outboxLeaseMs).toBe(60_000);
    expect(loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '5', LICENSOR_KOO_TIMEOUT_MS: '2000' }).outboxLeaseMs).toBe(
      5000,
    );
    expect(loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '3600' }).outboxLeaseMs).toBe(3_600_000);
    expect(() => loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '4' })).toThrow(
      /LICENSOR_OUTBOX_LEASE_SECONDS: must be at least 5/,
    );
    expect(() => loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '3601' })).toThrow(/LICENSOR_OUTBOX_LEASE_SECONDS/);
    expect(() => loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '7.5' })).toThrow(/LICENSOR_OUTBOX_LEASE_SECONDS/);
    // The base and the fallback host, each up to the timeout, must fit in one lease.
    expect(() => loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '8', LICENSOR_KOO_TIMEOUT_MS: '4000' })).toThrow(
      /LICENSOR_OUTBOX_LEASE_SECONDS \(8\) must be longer than two marketplace calls/,
    );
    expect(loadConfig({ LICENSOR_OUTBOX_LEASE_SECONDS: '9', LICENSOR_KOO_TIMEOUT_MS: '4000' }).outboxLeaseMs).toBe(
      9000,
    );
    // A configuration that only raised the timeout keeps starting, and its default lease still outlasts an attempt
    // (two calls of 60 s): a 60 s lease let another instance run the same marketplace call beside a slow one.
    expect(loadConfig({ LICENSOR_KOO_TIMEOUT_MS: '60000' }).outboxLeaseMs).toBe(121_000);
    expect(loadConfig({ LICENSOR_KOO_TIMEOUT_MS: '29000' }).outboxLeaseMs).toBe(60_000);
  });
});
