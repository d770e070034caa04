import { generateKeyPairSync, sign, verify } from 'node:crypto';
// The root has no workspace dependencies: reach the shared package through its source.
import { LicenseVerifier } from '../../packages/shared/src/index';

/**
 * Offline verification, as the client does it at every start: `LicenseVerifier.verify` of a real License file
 * issued by the server under test (certificate chain to the pinned root, Ed25519 signature, payload schema),
 * next to a bare `crypto.verify` of the same number of bytes — the floor no verifier can beat.
 */

export interface OpStats {
  name: string;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
}

function time(name: string, fn: () => unknown, iterations: number): OpStats {
  for (let i = 0; i < Math.min(500, iterations); i++) fn(); // warm-up: JIT and the verifier's chain cache
  const samples = new Float64Array(iterations);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    fn();
    samples[i] = (performance.now() - t0) * 1000;
  }
  const elapsedMs = performance.now() - started;
  samples.sort();
  return {
    name,
    opsPerSec: (iterations / elapsedMs) * 1000,
    p50Us: samples[Math.floor(iterations * 0.5)]!,
    p99Us: samples[Math.floor(iterations * 0.99)]!,
  };
}

export function offlineVerifyBench(licenseFile: string, rootPem: string, iterations = 5000): OpStats[] {
  const verifier = new LicenseVerifier({ roots: [rootPem] });
  verifier.verify(licenseFile); // must verify before it is timed
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const message = Buffer.alloc(Buffer.byteLength(licenseFile) * 0.75, 7); // about the decoded payload's size
  const sig = sign(null, message, privateKey);
  return [
    time('bare crypto.verify (Ed25519, same size)', () => verify(null, message, publicKey, sig), iterations),
    time('offline verification: LicenseVerifier.verify (warm)', () => verifier.verify(licenseFile), iterations),
    time(
      'offline verification: new LicenseVerifier + verify (cold)',
      () => new LicenseVerifier({ roots: [rootPem] }).verify(licenseFile),
      Math.ceil(iterations / 10),
    ),
  ];
}
