import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeOfflineRequest, devicePublicKeyHash, signLicense } from '@licensor/shared';
import {
  BASE_READINGS,
  clock,
  FakeServer,
  licenseFor,
  machine,
  otherPki,
  PRODUCT,
  payloadFor,
  pki,
  tempDir,
} from '@licensor/testkit/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildProgram,
  type CliIo,
  EXIT,
  exitCodeFor,
  type GlobalOptions,
  main,
  type Run,
  statusArgs,
  wantsJson,
} from './cli';
import { fingerprintFromReadings, hashedFingerprint, type MachineFingerprint } from './fingerprint';

const CODE = 'PLCLITEST0001';

let server: FakeServer;
let dir: string;
let rootFile: string;
let fp: MachineFingerprint;
let c: ReturnType<typeof clock>;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  c = clock(Date.now());
  server = await new FakeServer().start();
  server.now = c;
  server.codes.set(CODE, { status: 'active', seats: 1, expiresAt: null });
  const t = tempDir();
  cleanups.push(t.cleanup);
  dir = t.dir;
  rootFile = join(dir, 'root.pem');
  writeFileSync(rootFile, pki().rootPem);
  fp = machine();
});

afterEach(async () => {
  await server.close();
  for (const fn of cleanups.splice(0)) fn();
});

async function run(args: string[], env: Record<string, string> = {}, fingerprint: CliIo['fingerprint'] = () => fp) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    fingerprint,
    now: c,
  };
  const code = await main(['node', 'licensor-client', ...args], io);
  return { code, stdout, stderr };
}

const common = () => [
  '--data-dir',
  join(dir, 'data'),
  '--product',
  PRODUCT,
  '--root',
  rootFile,
  '--server',
  server.url,
];

describe('licensor-client', () => {
  it('maps every failure class to its documented exit code', () => {
    expect(exitCodeFor('VALID')).toBe(0);
    expect(exitCodeFor('INVALID_INPUT')).toBe(1);
    expect(exitCodeFor('NO_LICENSE')).toBe(2);
    for (const c of ['EXPIRED', 'FROZEN', 'REVOKED', 'SUSPENDED', 'RELEASED']) expect(exitCodeFor(c)).toBe(3);
    expect(exitCodeFor('FINGERPRINT_MISMATCH')).toBe(4);
    for (const c of ['FILE_SIGNATURE_INVALID', 'STATE_TAMPERED']) expect(exitCodeFor(c)).toBe(5);
    for (const c of ['TIME_MODIFIED', 'GRACE_PERIOD_OVER']) expect(exitCodeFor(c)).toBe(6);
    expect(exitCodeFor('SERVER_UNREACHABLE')).toBe(7);
    expect(exitCodeFor('RESPONSE_INVALID')).toBe(8);
  });

  it('prints the fingerprint masked, or as JSON with per-product hashes', async () => {
    const human = await run(['fingerprint']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Components\s+6 of 6 readable/m);
    expect(human.stdout).not.toContain('3D1219C7C4C5404AAA1F6D2A48ADFDA4');
    expect(human.stdout).toContain('3D12…FDA4');
    expect(human.stdout.split('\n').find((l) => l.startsWith('KooGallery'))).toMatch(
      / 04:7C:16:5E:E3:5D,3C:A9:F4:12:34:56\|/,
    );

    const j = await run(['fingerprint', '--json', '--product', PRODUCT]);
    const parsed = JSON.parse(j.stdout);
    expect(parsed.hashed).toEqual(hashedFingerprint(fp, PRODUCT));
    expect(parsed.sufficient).toBe(true);
  });

  it('reports usage errors with exit code 1 and says what is missing', async () => {
    const noProduct = await run(['status', '--root', rootFile, '--data-dir', dir]);
    expect(noProduct).toMatchObject({ code: EXIT.usage });
    expect(noProduct.stderr).toMatch(/--product <id> or set LICENSOR_PRODUCT_ID/);
    expect((await run(['no-such-command'])).code).toBe(EXIT.usage);
    expect((await run(['activate'])).code).toBe(EXIT.usage);
    const noServer = await run(['activate', CODE, '--product', PRODUCT, '--root', rootFile, '--data-dir', dir]);
    expect(noServer.stderr).toMatch(/--server <url>/);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 valid/);
  });

  it('reports usage errors as JSON with --json, and takes a --json after -- for an argument', async () => {
    for (const args of [
      ['--json', 'status', '--no-such-option'],
      ['status', '--no-such-option', '--json'],
      ['--json', 'verify'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(EXIT.usage);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(JSON.parse(r.stdout), args.join(' ')).toEqual({
        error: { code: 'INVALID_INPUT', message: expect.stringMatching(/^error: (unknown option|missing required)/) },
      });
    }
    // After `--` every word is an argument: `--json` there is a file name, not the switch (commander agrees).
    const extra = await run(['verify', '--', '--json', 'second-file']);
    expect(extra).toMatchObject({ code: EXIT.usage, stdout: '', stderr: expect.stringMatching(/^error: too many/) });
    const named = await run(['verify', '--root', rootFile, '--', '--json']);
    expect(named).toMatchObject({ code: EXIT.usage, stdout: '' });
    expect(named.stderr).toMatch(/--json/); // the file named --json does not exist
    expect(wantsJson(['node', 'licensor-client', 'offline-import', '--', '--json'])).toBe(false);
    expect(wantsJson(['node', 'licensor-client', '--json', 'offline-import', '--', 'x'])).toBe(true);
  });

  it('reads `status` and its options without commander exactly as commander does, and leaves the rest to it', async () => {
    const commander = await import('commander');
    /** The global options commander hands to the `status` action for these words (undefined: it ran no status). */
    const commanderReads = async (words: string[]) => {
      let seen: GlobalOptions | undefined;
      const quiet = { write: () => true };
      const fake = {
        io: { stdout: quiet, stderr: quiet, env: {} },
        manager: (o: GlobalOptions) => {
          seen = o;
          throw new Error('options read');
        },
      } as unknown as Run;
      await buildProgram(fake, commander)
        .parseAsync(['node', 'licensor-client', ...words])
        .catch(() => undefined);
      return seen;
    };
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const read = [
      ['status'],
      ['--json', '--product', 'p', '--root', 'a.pem', '--root', pem, '--data-dir', '/d', 'status'],
      ['status', '--lang', 'zh', '--product', 'p', '--product', 'q', '--app', 'App', '--server', 'http://x', '--json'],
      ['--product', 'status', 'status'], // a value is the next word, even the command's name
      ['--product', '--json', 'status'], // … or an option's
      ['--data-dir', '', '--lang', 'en', 'status'],
    ];
    for (const words of read) {
      const mine = statusArgs(words);
      expect(mine, words.join(' ')).toBeDefined();
      expect(mine, words.join(' ')).toEqual(await commanderReads(words));
    }
    const left = [
      [],
      ['status', '--help'],
      ['-h'],
      ['--lang', 'fr', 'status'],
      ['--product=p', 'status'],
      ['status', '--', 'x'],
      ['status', 'extra'],
      ['status', 'status'],
      ['status', '--product'],
      ['status', '--no-such-option'],
      ['check-in'],
      ['fingerprint', '--json'],
    ];
    for (const words of left) expect(statusArgs(words), words.join(' ')).toBeUndefined();

    // Either way the same answer: `--product=…` goes through commander, `--product …` does not.
    const fast = await run(['status', '--json', ...common()]);
    const split = common();
    const at = split.indexOf('--product');
    const joined = [...split.slice(0, at), `--product=${split[at + 1]}`, ...split.slice(at + 2)];
    const slow = await run(['status', '--json', ...joined]);
    expect(statusArgs(['status', '--json', ...joined])).toBeUndefined();
    expect(slow).toEqual(fast);
    expect(fast.code).toBe(EXIT.noLicense);
  });

  it('activates, shows status, checks in, locks on FROZEN and deactivates', async () => {
    expect((await run(['status', ...common()])).code).toBe(EXIT.noLicense);

    const act = await run(['activate', CODE, '--label', 'CI box', ...common()]);
    expect(act.stderr).toBe(''); // no spinner on a pipe
    expect(act.code).toBe(0);
    expect(act.stdout).toMatch(/^Status\s+VALID\s+The license is valid\./m);
    expect(act.stdout).toMatch(/^Fingerprint\s+6 of 6 components match \(rule: all but one\)/m);

    expect(act.stdout).toMatch(/^This device\s+CI box$/m);
    expect((await run(['status', ...common()])).stdout).toMatch(/^This device\s+CI box$/m);

    const status = await run(['status', '--json', ...common()]);
    expect(JSON.parse(status.stdout)).toMatchObject({ valid: true, code: 'VALID', license: { entitlementId: CODE } });

    expect((await run(['check-in', ...common()])).code).toBe(0);
    server.codes.get(CODE)!.status = 'frozen';
    const frozen = await run(['check-in', ...common()]);
    expect(frozen.code).toBe(EXIT.notUsable);
    expect(frozen.stdout).toMatch(/Next step\s+Settle the order on KooGallery/);
    const zh = await run(['status', '--lang', 'zh', ...common()]);
    expect(zh.stdout).toMatch(/许可证已被云商店冻结/);

    server.codes.get(CODE)!.status = 'active';
    expect((await run(['check-in', ...common()])).code).toBe(0);
    const deact = await run(['deactivate', ...common()]);
    expect(deact).toMatchObject({ code: 0, stdout: expect.stringMatching(/seat is free/) });
    expect((await run(['status', ...common()])).code).toBe(EXIT.noLicense);
  });

  it("status shows the License's edition and features, and the new ones after a check-in", async () => {
    server.codes.set(CODE, {
      status: 'active',
      seats: 1,
      expiresAt: null,
      edition: 'Basic',
      features: { export: true },
    });
    expect((await run(['activate', CODE, ...common()])).code).toBe(0);
    const basic = await run(['status', ...common()]);
    expect(basic.stdout).toMatch(/^Edition\s+Basic$/m);
    expect(basic.stdout).toMatch(/^Features\s+export$/m);
    const json = JSON.parse((await run(['status', '--json', ...common()])).stdout);
    expect(json.license).toMatchObject({ edition: 'Basic', features: { export: true } });

    // The merchant moved the customer to another SKU: the next check-in brings its edition and features.
    server.codes.set(CODE, {
      status: 'active',
      seats: 1,
      expiresAt: null,
      edition: 'Pro',
      features: { export: true, sync: true, maxProjects: 20 },
    });
    expect((await run(['check-in', ...common()])).code).toBe(0);
    const pro = await run(['status', ...common()]);
    expect(pro.stdout).toMatch(/^Edition\s+Pro$/m);
    expect(pro.stdout).toMatch(/^Features\s+export, maxProjects=20, sync$/m);
  });

  it('re-reads patiently on a busy machine instead of reporting STATE_TAMPERED (issue 13 item 1)', async () => {
    expect((await run(['activate', CODE, ...common()])).code).toBe(0);
    // Under load only the machine id answers within the first timeout; the patient re-read gets everything.
    const starved = fingerprintFromReadings({ machineId: BASE_READINGS.machineId, timedOut: ['cpu', 'diskLayout'] });
    for (const command of ['status', 'check-in']) {
      const reads: boolean[] = [];
      const busy = await run([command, '--json', ...common()], {}, ({ patient }) => {
        reads.push(patient);
        return patient ? fp : starved;
      });
      expect(busy.code, busy.stdout + busy.stderr).toBe(0);
      const out = JSON.parse(busy.stdout);
      expect(out.code ?? out.status.code).toBe('VALID');
      expect(reads).toEqual([false, true]);
    }
    const file = join(dir, 'bound.lic');
    writeFileSync(file, licenseFor(hashedFingerprint(fp, PRODUCT), { now: c() }));
    const verified = await run(['verify', file, '--root', rootFile], {}, ({ patient }) => (patient ? fp : starved));
    expect(verified.code, verified.stdout).toBe(0);
  });

  it('shows a spinner line on a TTY while activating, and clears it', async () => {
    let stderr = '';
    const io: CliIo = {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s), isTTY: true },
      env: {},
      fingerprint: () => fp,
      now: c,
    };
    expect(await main(['node', 'licensor-client', 'activate', CODE, ...common()], io)).toBe(0);
    expect(stderr).toMatch(/^\r⠋ Activating PLCLITEST0001…/);
    expect(stderr.endsWith('\r\x1b[2K')).toBe(true);
  });

  it('exits 7 when check-in cannot reach the server, while the license stays valid', async () => {
    await run(['activate', CODE, ...common()]);
    await server.close();
    const r = await run(['check-in', ...common()]);
    expect(r.code).toBe(EXIT.unreachable);
    expect(r.stdout).toMatch(/^Status\s+VALID/m);
    expect(r.stdout).toMatch(/Check-in\s+failed: Cannot reach the license server/);
    expect((await run(['status', ...common()])).code).toBe(0);
  });

  it('says a code was not recognised in one sentence, one detail line and one next step (EN and ZH)', async () => {
    const en = await run(['activate', 'plnosuchcode1', ...common()]);
    expect(en.code).toBe(EXIT.notUsable);
    expect(en.stderr).toBe(
      [
        'Error [NOT_FOUND]: This license code was not recognised.',
        'The license server has no license with the code PLNOSUCHCODE1.',
        'Next step: Compare the code with your order confirmation and enter it again.',
        '',
      ].join('\n'),
    );
    expect(en.stderr).not.toMatch(/seat/i); // nothing to free on a first activation
    const zh = await run(['activate', 'PLNOSUCHCODE1', '--lang', 'zh', ...common()]);
    expect(zh.stderr).toBe(
      [
        'Error [NOT_FOUND]: 无法识别此授权码。',
        '许可证服务器上没有授权码为 PLNOSUCHCODE1 的许可证。',
        '下一步：请对照订单确认信息核对授权码后重新输入。',
        '',
      ].join('\n'),
    );
  });

  it('lists the seat holders on TOO_MANY_DEVICES (exit 3) and frees one', async () => {
    await run(['activate', CODE, '--label', 'Old laptop', ...common()]);
    const other = ['--data-dir', join(dir, 'other'), '--product', PRODUCT, '--root', rootFile, '--server', server.url];
    fp = machine({ machineId: 'dd'.repeat(16), hardwareUuid: 'z-uuid', macs: ['00:11:22:33:44:88'] });
    const refused = await run(['activate', CODE, ...other]);
    expect(refused.code).toBe(EXIT.notUsable);
    const id = [...server.activations.keys()][0]!;
    // One sentence, one detail line (who holds the seat, with the id release-device needs), one next step.
    expect(refused.stderr).toBe(
      [
        'Error [TOO_MANY_DEVICES]: This license is already in use on another device.',
        `In use on Old laptop (${id}).`,
        `Next step: Free the seat of a device you no longer use with \`licensor-client release-device ${CODE} ${id}\`, then activate again.`,
        '',
      ].join('\n'),
    );
    const zh = await run(['activate', CODE, '--lang', 'zh', ...other]);
    expect(zh.code).toBe(EXIT.notUsable);
    expect(zh.stderr).toBe(
      [
        'Error [TOO_MANY_DEVICES]: 此许可证已在另一台设备上使用。',
        `正在使用的设备：Old laptop (${id})。`,
        `下一步：请用 \`licensor-client release-device ${CODE} ${id}\` 释放不再使用的设备的席位，然后重新激活。`,
        '',
      ].join('\n'),
    );

    const list = await run(['devices', CODE, ...other]);
    expect(list.stdout).toMatch(/Seats\s+1 of 1 in use/);
    expect(list.stdout).toContain(id);
    const rel = await run(['release-device', CODE, id, '--json', ...other]);
    expect(JSON.parse(rel.stdout)).toEqual({ released: true });
    // Again (or a retried request whose first copy freed it): what holds now, not "already free".
    const again = await run(['release-device', CODE, id, ...other]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`Device ${id} holds no seat: nothing to free.\n`);
    expect((await run(['activate', CODE, ...other])).code).toBe(0);
  });

  it('verifies a file offline: valid (0), mismatch (4), foreign root (5), clock behind (6)', async () => {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const good = write('good.lic', licenseFor(hashedFingerprint(fp, PRODUCT), { now: c() }));
    expect((await run(['verify', good, '--root', rootFile])).code).toBe(0);
    expect((await run(['verify', good, '--root', rootFile, '--product', 'other'])).code).toBe(EXIT.integrity);

    const foreign = write('foreign.lic', licenseFor(hashedFingerprint(fp, PRODUCT), { now: c() }, otherPki().signer));
    const f = await run(['verify', foreign, '--root', rootFile, '--json']);
    expect(f.code).toBe(EXIT.integrity);
    expect(JSON.parse(f.stdout)).toMatchObject({
      code: 'FILE_SIGNATURE_INVALID',
      detail: { reason: 'CERTIFICATE_INVALID' },
    });

    fp = machine({ diskSerials: ['X-1'], macs: ['00:11:22:33:44:99'] });
    expect((await run(['verify', good, '--root', rootFile])).code).toBe(EXIT.fingerprint);

    fp = machine();
    const future = write('future.lic', licenseFor(hashedFingerprint(fp, PRODUCT), { now: c() + 3 * 3_600_000 }));
    expect((await run(['verify', future, '--root', rootFile])).code).toBe(EXIT.time);
    const missing = await run(['verify', join(dir, 'nope.lic'), '--root', rootFile]);
    expect(missing).toMatchObject({ code: EXIT.usage, stderr: expect.stringMatching(/does not exist/) });
  });

  it('reports a tampered state with exit 5', async () => {
    await run(['activate', CODE, ...common()]);
    fp = machine({
      machineId: 'ee'.repeat(16),
      hardwareUuid: 'q',
      baseboardSerial: 'B2',
      cpu: 'Other CPU',
      diskSerials: ['D2'],
      macs: ['00:11:22:33:44:aa'],
    });
    const r = await run(['status', ...common()]);
    expect(r.code).toBe(EXIT.integrity);
    expect(r.stdout).toMatch(/STATE_TAMPERED/);
  });

  it('writes an offline request and imports the answer', async () => {
    const req = await run(['offline-request', '-', '--code', CODE, ...common()]);
    expect(req.code).toBe(0);
    const request = decodeOfflineRequest(req.stdout);
    const file = join(dir, 'answer.lic');
    writeFileSync(
      file,
      signLicense(
        payloadFor({
          now: c(),
          lid: 'act-9',
          eid: CODE,
          fingerprint: { rule: { type: 'allButOne' }, components: request.fingerprint.components },
          deviceKey: devicePublicKeyHash(request.devicePublicKey),
          refreshBy: null,
          graceUntil: null,
        }),
        pki().signer,
      ),
    );
    const imported = await run(['offline-import', file, ...common()]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/^License\s+act-9 \(family direct, 1 seat\)/m);

    const toFile = await run(['offline-request', join(dir, 'req.txt'), '--code', CODE, ...common()]);
    expect(toFile.stdout).toMatch(/Send it to your vendor/);
  });

  it('runs through the bin script (built JavaScript, rebuilt when older than the sources)', () => {
    const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'licensor-client.cjs');
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: licensor-client/);
    // The former ES-module path still works for scripts that call it.
    const viaMjs = spawnSync(process.execPath, [bin.replace(/\.cjs$/, '.mjs'), '--help'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(viaMjs.status).toBe(0);
    expect(viaMjs.stdout).toMatch(/Usage: licensor-client/);
    const bad = spawnSync(process.execPath, [bin, 'status'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(bad.status).toBe(EXIT.usage);
  });
});
