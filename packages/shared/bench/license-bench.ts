/**
 * License sign/verify throughput against bare node:crypto Ed25519 on the same bytes.
 * Run: pnpm bench:shared. Acceptance: warm verify < 0.5 ms and within 3x of bare verify.
 */
import { createHash, sign, verify, X509Certificate } from 'node:crypto';
import { createRootCertificate, issueSigningCertificate } from '../src/keys';
import { decodeLicenseFile, type LicensePayload, LicenseVerifier, signLicense } from '../src/license';

const ITERATIONS = 5000;
const ROUNDS = 3; // best of 3 rounds, to keep scheduler noise out of the numbers

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const now = new Date();
const root = createRootCertificate({ commonName: 'Bench Root', now });
const signer = issueSigningCertificate(root, { commonName: 'Bench Signing', now });
const iso = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();

const payload: LicensePayload = {
  v: 1,
  lid: 'act_01J9Z8Y7X6W5V4T3S2R1Q0P9N8',
  eid: 'PL20250301ABCDEF0123',
  family: 'B',
  product: 'com.example.studio',
  sku: 'pro-annual',
  edition: 'Professional',
  entitlements: ['export', 'cloud-sync', 'plugins'],
  seats: 3,
  fingerprint: {
    rule: { type: 'allButOne' },
    components: {
      machineId: [hash('machine')],
      hardwareUuid: [hash('uuid')],
      baseboardSerial: [hash('board')],
      cpu: [hash('cpu')],
      diskSerials: [hash('disk0')],
      macs: [hash('mac0')],
    },
  },
  deviceKey: hash('device-key'),
  status: 'active',
  issuedAt: iso(0),
  notBefore: iso(0),
  expiresAt: iso(365),
  refreshBy: iso(7),
  graceUntil: iso(14),
  serverTime: iso(0),
};

const file = signLicense(payload, signer);
const verifier = new LicenseVerifier({ roots: [root.certificatePem] });
const { envelope } = verifier.verify(file);
// Exactly the bytes signLicense signs: domain prefix + the base64url payload.
const signedBytes = Buffer.from(`LICENSOR-LICENSE-V1\n${envelope.payload}`);
const bareSig = sign(null, signedBytes, signer.privateKey);
const publicKey = new X509Certificate(signer.certificatePem).publicKey;

function measure(fn: () => unknown): number {
  for (let i = 0; i < Math.min(1000, ITERATIONS); i++) fn(); // warm-up (JIT, caches)
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / ITERATIONS);
  }
  return best; // µs per op
}

const bareSignUs = measure(() => sign(null, signedBytes, signer.privateKey));
const signUs = measure(() => signLicense(payload, signer));
const bareVerifyUs = measure(() => verify(null, signedBytes, publicKey, bareSig));
const verifyUs = measure(() => verifier.verify(file));
const decodeUs = measure(() => decodeLicenseFile(file));

const rows: [string, number, number | undefined][] = [
  ['bare crypto.sign', bareSignUs, undefined],
  ['signLicense', signUs, signUs / bareSignUs],
  ['bare crypto.verify', bareVerifyUs, undefined],
  ['LicenseVerifier.verify (warm)', verifyUs, verifyUs / bareVerifyUs],
  ['decodeLicenseFile (no crypto)', decodeUs, undefined],
];

console.log(
  `License file: ${Buffer.byteLength(file)} bytes, payload ${Buffer.from(envelope.payload, 'base64url').length} bytes`,
);
console.log(`Node ${process.version}, ${ITERATIONS} iterations, best of ${ROUNDS} rounds\n`);
console.log(`${'operation'.padEnd(32)}${'ops/s'.padStart(10)}${'µs/op'.padStart(10)}${'x bare'.padStart(9)}`);
for (const [label, us, ratio] of rows) {
  const ops = Math.round(1e6 / us).toString();
  console.log(
    `${label.padEnd(32)}${ops.padStart(10)}${us.toFixed(1).padStart(10)}${(ratio ? ratio.toFixed(2) : '').padStart(9)}`,
  );
}

const ok = verifyUs < 500 && verifyUs / bareVerifyUs < 3;
console.log(
  `\nverify: ${verifyUs.toFixed(1)} µs (limit 500), ${(verifyUs / bareVerifyUs).toFixed(2)}x bare (limit 3x): ${ok ? 'PASS' : 'FAIL'}`,
);
if (!ok) process.exitCode = 1;
