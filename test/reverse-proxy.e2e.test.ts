import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bodySignHeader } from '@licensor/shared';
import { MarketplaceSimulator } from '@licensor/simulator';
import { type Instances, REPO_ROOT, startInstances } from '@licensor/testkit/instances';
import { freePort } from '@licensor/testkit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AK, compactTime, Device, KOO_KEY, Marketplace, SK, serverEnv, sleep } from './crash/harness';

/**
 * The reverse-proxy examples of docs/deploy-postgresql.md, taken from the document itself: each must parse
 * (`nginx -t`, `caddy validate`) as written, and — with the upstream addresses pointed at two real server
 * processes — carry what the signatures cover: the marketplace's signed query and raw body, a device's signed
 * path, and the server's signed answers. Killing one instance must not cost an answer.
 */
const DOC = readFileSync(join(REPO_ROOT, 'docs/deploy-postgresql.md'), 'utf8');
const block = (lang: string) => {
  const m = DOC.match(new RegExp('```' + lang + '\\n([\\s\\S]*?)```'));
  if (!m) throw new Error(`docs/deploy-postgresql.md has no \`\`\`${lang} block`);
  return m[1]!;
};
const installed = (cmd: string, args: string[]) => spawnSync(cmd, args).status === 0;
const hasNginx = installed('nginx', ['-v']);
const hasCaddy = installed('caddy', ['version']);
for (const [name, ok] of [
  ['nginx', hasNginx],
  ['caddy', hasCaddy],
] as const) {
  if (!ok)
    process.stderr.write(
      `\n⚠  SKIPPING the ${name} example test: ${name} is not installed (apt-get install ${name})\n\n`,
    );
}

const dir = mkdtempSync(join(tmpdir(), 'licensor-proxy-'));
chmodSync(dir, 0o755); // nginx workers (nobody, when run as root) read and write below it
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, HOME: dir, ...env }, timeout: 30_000 });

function nginxConf(servers: string, name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true, mode: 0o777 });
  chmodSync(d, 0o777);
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
${servers}
}
`;
}

const pointAt = (text: string, ports: number[]) =>
  text.replace('10.0.0.11:8080', `127.0.0.1:${ports[0]}`).replace('10.0.0.12:8080', `127.0.0.1:${ports[1]}`);

describe.skipIf(!hasNginx)('the nginx example', () => {
  it('parses as written (nginx -t), with a certificate where the document names one', () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const subject = '/CN=license.example.com';
    // An EC key: nginx -t only loads the pair, and an RSA key took openssl ≈ 0.1–1 s of CPU to generate.
    const args = `req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj ${subject} -keyout ${key} -out ${cert}`;
    const made = run('openssl', args.split(' '));
    expect(made.status, made.stderr).toBe(0);
    const servers = block('nginx')
      .replace('/etc/letsencrypt/live/license.example.com/fullchain.pem', cert)
      .replace('/etc/letsencrypt/live/license.example.com/privkey.pem', key);
    const file = join(dir, 'nginx-t.conf');
    writeFileSync(file, nginxConf(servers, 'nginx-t'));
    const r = run('nginx', ['-t', '-c', file]);
    expect(r.stderr).toContain('syntax is ok');
    expect(r.status, r.stderr).toBe(0);
  });
});

describe.skipIf(!hasCaddy)('the Caddy example', () => {
  it('parses as written (caddy validate)', () => {
    const file = join(dir, 'Caddyfile.validate');
    writeFileSync(file, `{\n\tadmin off\n\tstorage file_system ${join(dir, 'caddy-data')}\n}\n${block('caddyfile')}`);
    const r = run('caddy', ['validate', '--config', file, '--adapter', 'caddyfile']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('Valid configuration');
  });
});

describe.skipIf(!hasNginx && !hasCaddy)('two instances behind the documented proxies', () => {
  const sim = new MarketplaceSimulator(AK, SK);
  let fleet: Instances;
  const proxies: ChildProcess[] = [];

  beforeAll(async () => {
    const simUrl = await sim.listen();
    const data = join(dir, 'data');
    // Two processes on one SQLite folder (serving from PostgreSQL comes next); the proxy is the only client.
    fleet = await startInstances({
      count: 2,
      env: { ...serverEnv(0, data, simUrl), LICENSOR_TRUST_PROXY: '127.0.0.1' },
      sequential: true,
    });
  }, 180_000);
  afterAll(async () => {
    for (const p of proxies) {
      p.kill('SIGTERM');
      if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
    }
    await fleet?.stop();
    await sim.close();
  });

  async function startProxy(cmd: string, args: string[], port: number): Promise<string> {
    const proc = spawn(cmd, args, { env: { ...process.env, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    proxies.push(proc);
    let output = '';
    proc.stdout!.on('data', (c: Buffer) => (output += c));
    proc.stderr!.on('data', (c: Buffer) => (output += c));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`${cmd} exited: ${output}`);
      try {
        if ((await fetch(`${url}/healthz`)).ok) return url;
      } catch {
        // not yet
      }
      await sleep(100);
    }
    throw new Error(`${cmd} did not answer: ${output}`);
  }

  const ports = () => fleet.instances.map((i) => i.port);

  async function exercise(base: string) {
    const koo = new Marketplace(base);
    const uid = randomBytes(5).toString('hex').toUpperCase();
    // Scheme A: a GET whose query is signed; the answer's Body-Sign is computed over the body we receive.
    const order = await koo.get({
      activity: 'getLicense',
      businessId: 'b',
      customerId: 'c',
      orderId: `PX-${uid}`,
      productId: 'P1',
      amount: '2',
    });
    expect(order.json.resultCode, order.text).toBe('000000');
    expect(order.headers.get('body-sign')).toBe(bodySignHeader(KOO_KEY, order.text));
    // A query changed on the way is refused: the check is live, so the pass above proves the query arrived intact.
    const tampered = koo.getUrl({ activity: 'getLicense', businessId: 'b', orderId: `PX-${uid}`, productId: 'P1' });
    const refused = await fetch(tampered.replace('businessId=b', 'businessId=x'));
    expect(((await refused.json()) as { resultCode: string }).resultCode).not.toBe('000000');

    // Scheme B: a POST whose query signature covers the raw body.
    sim.addOrder({
      orderId: `PXC-${uid}`,
      orderLineId: `PXC-${uid}-L1`,
      linearValue: 1,
      expireTime: compactTime(new Date(Date.now() + 30 * 86_400_000)),
    });
    const inst = await koo.post({
      activity: 'newInstance',
      orderId: `PXC-${uid}`,
      orderLineId: `PXC-${uid}-L1`,
      businessId: 'b',
    });
    expect(['000000', '000004'], inst.text).toContain(inst.json.resultCode);

    // A device: activation, then a check-in whose signature covers the method and the path.
    const device = new Device(`proxy-${uid}`);
    const act = await device.activate(base, String(order.json.license));
    expect(act.status, act.text).toBe(200);
    const checkIn = await device.checkIn(base, String(act.json.activationId));
    expect(checkIn.status, checkIn.text).toBe(200);
  }

  /** Both instances up: the test before killed one. Restarted here, so none restarts after the last test. */
  async function bothUp() {
    for (const inst of fleet.instances) {
      if (inst.proc.exitCode !== null || inst.proc.signalCode !== null) await fleet.restart(inst.index);
    }
  }

  async function survivesKill(base: string) {
    await fleet.kill(1);
    // Every request still answered, by the instance left.
    for (let i = 0; i < 4; i++) {
      const koo = new Marketplace(base);
      const a = await koo.get({
        activity: 'getLicense',
        businessId: 'b',
        customerId: 'c',
        orderId: `PXK-${randomBytes(4).toString('hex')}`,
        productId: 'P1',
        amount: '1',
      });
      expect(a.json.resultCode, a.text).toBe('000000');
    }
  }

  it.skipIf(!hasNginx)(
    'nginx: signed requests and answers pass unchanged; a killed instance costs no answer',
    {
      timeout: 120_000,
    },
    async () => {
      const port = await freePort();
      const servers = pointAt(block('nginx'), ports())
        .replace('listen 443 ssl;', `listen 127.0.0.1:${port};`)
        .replace(/^\s*ssl_.*$/gm, '');
      const file = join(dir, 'nginx-live.conf');
      writeFileSync(file, nginxConf(servers, 'nginx-live'));
      await bothUp();
      const base = await startProxy('nginx', ['-c', file, '-g', 'daemon off;'], port);
      await exercise(base);
      await survivesKill(base);
    },
  );

  it.skipIf(!hasCaddy)(
    'Caddy: signed requests and answers pass unchanged; a killed instance costs no answer',
    {
      timeout: 120_000,
    },
    async () => {
      const port = await freePort();
      const site = pointAt(block('caddyfile'), ports()).replace('license.example.com {', `http://127.0.0.1:${port} {`);
      const file = join(dir, 'Caddyfile.live');
      writeFileSync(
        file,
        `{\n\tadmin off\n\tauto_https off\n\tstorage file_system ${join(dir, 'caddy-data')}\n}\n${site}`,
      );
      await bothUp();
      const base = await startProxy('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], port);
      await exercise(base);
      await survivesKill(base);
    },
  );
});
