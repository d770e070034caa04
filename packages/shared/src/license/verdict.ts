/**
 * The signed verdict record: when the server locks a license (revoked, suspended, frozen, expired, released,
 * seat gone…) it hands the device this record, so the lock outlives every License file that is not newer
 * than it — a re-import of the old file, a restored state, a re-read. Same envelope and chain as a License
 * file, signed under its own domain ('verdict'), so neither can be passed off as the other:
 *
 *   base64url( {"v":1,"alg":"EdDSA","kid":…,"x5c":[…],"payload":base64url(JCS(payload)),"sig":…} )
 */
import { z } from 'zod';
import { LicensorError } from '../errors';
import { canonicalize } from '../jcs';
import { decodeBase64Strict } from '../keys/base64';
import { domainSign, domainSignAsync } from '../keys/domain';
import { type LicenseEnvelope, type LicenseSigner, parseJson, prepareSigner } from './file';
import { describeIssues, licenseEnvelopeSchema } from './schema';

export const VERDICT_RECORD_MAX_BYTES = 16 * 1024;

/** Server verdicts that lock a license until a newer file arrives. */
export const LOCKING_VERDICT_CODES = [
  'FROZEN',
  'EXPIRED',
  'SUSPENDED',
  'REVOKED',
  'RELEASED',
  'NOT_FOUND',
  'FINGERPRINT_MISMATCH',
  'TOO_MANY_DEVICES',
] as const;
export type LockingVerdictCode = (typeof LOCKING_VERDICT_CODES)[number];

/** Verdicts about the entitlement (every activation of it), as opposed to one device's seat. */
export const ENTITLEMENT_VERDICT_CODES: ReadonlySet<string> = new Set([
  'FROZEN',
  'EXPIRED',
  'SUSPENDED',
  'REVOKED',
  'RELEASED',
]);

export interface VerdictPayload {
  v: 1;
  /** The activation (License id) the verdict was given to. */
  lid: string;
  /** The entitlement it belongs to. */
  eid: string;
  product: string;
  code: LockingVerdictCode;
  /** The server's words for the person in front of the software. */
  message: string;
  /** Server time of the verdict: every License file of this activation issued at or before it stays locked. */
  issuedAt: string;
}

const verdictPayloadShape = {
  v: z.literal(1),
  lid: z.string().min(1).max(128),
  eid: z.string().min(1).max(256),
  product: z.string().min(1).max(256),
  code: z.enum(LOCKING_VERDICT_CODES),
  message: z.string().max(1000),
  issuedAt: z.iso.datetime(),
};
/** Strict both ways: a verdict is small and closed; an unknown claim would be silently ignored by clients. */
export const verdictPayloadSchema: z.ZodType<VerdictPayload> = z.strictObject(verdictPayloadShape);

export interface DecodedVerdict {
  envelope: LicenseEnvelope;
  payload: VerdictPayload;
}

function malformed(message: string, detail?: Record<string, unknown>): never {
  throw new LicensorError('FILE_MALFORMED', message, detail);
}

/** Structure only (size, base64url, strict JSON without duplicate keys, schemas); no cryptography. */
export function decodeVerdictRecord(text: string): DecodedVerdict {
  if (typeof text !== 'string') return malformed('A verdict record must be text');
  if (text.length > VERDICT_RECORD_MAX_BYTES) {
    throw new LicensorError('FILE_TOO_LARGE', `A verdict record is at most ${VERDICT_RECORD_MAX_BYTES} bytes`);
  }
  const bytes = decodeBase64Strict(text, 'base64url');
  if (!bytes || bytes.length === 0) return malformed('The verdict record is not valid base64url');
  const envelope = licenseEnvelopeSchema.safeParse(parseJson(bytes, 'verdict envelope'));
  if (!envelope.success) malformed('The verdict envelope is malformed', { issues: describeIssues(envelope.error) });
  const payloadBytes = decodeBase64Strict(envelope.data.payload, 'base64url');
  if (!payloadBytes) return malformed('The verdict payload is not valid base64url');
  const payload = verdictPayloadSchema.safeParse(parseJson(payloadBytes, 'verdict payload'));
  if (!payload.success) malformed('The verdict payload is malformed', { issues: describeIssues(payload.error) });
  return { envelope: envelope.data, payload: payload.data };
}

function prepareVerdict(payload: VerdictPayload, signer: LicenseSigner) {
  const checked = verdictPayloadSchema.safeParse(payload);
  if (!checked.success) {
    throw new LicensorError('INVALID_INPUT', 'The verdict payload is invalid', {
      issues: describeIssues(checked.error),
    });
  }
  const prepared = prepareSigner(signer);
  const issuedAt = Date.parse(checked.data.issuedAt);
  if (issuedAt < prepared.notBefore || issuedAt > prepared.notAfter) {
    throw new LicensorError('CERTIFICATE_INVALID', 'The signing certificate is not valid at the verdict time');
  }
  return { prepared, encodedPayload: Buffer.from(canonicalize(checked.data), 'utf8').toString('base64url') };
}

function assembleVerdict(prepared: ReturnType<typeof prepareSigner>, payload: string, sig: string): string {
  const envelope: LicenseEnvelope = { v: 1, alg: 'EdDSA', kid: prepared.keyId, x5c: prepared.x5c, payload, sig };
  return Buffer.from(JSON.stringify(envelope), 'utf8').toString('base64url');
}

/** Signs a verdict record with a certified signing key (the one that signs License files). */
export function signVerdict(payload: VerdictPayload, signer: LicenseSigner): string {
  const { prepared, encodedPayload } = prepareVerdict(payload, signer);
  return assembleVerdict(prepared, encodedPayload, domainSign('verdict', encodedPayload, signer.privateKey));
}

/** signVerdict with the signature computed on libuv's thread pool. */
export async function signVerdictAsync(payload: VerdictPayload, signer: LicenseSigner): Promise<string> {
  const { prepared, encodedPayload } = prepareVerdict(payload, signer);
  return assembleVerdict(prepared, encodedPayload, await domainSignAsync('verdict', encodedPayload, signer.privateKey));
}

/**
 * Whether a verdict locks a License file: same activation (or, for a verdict on the whole entitlement, the same
 * entitlement), same product, and the file was issued at or before the verdict. A newer file carries a newer
 * state (e.g. a reinstatement) and is judged on its own.
 */
export function verdictLocks(
  verdict: VerdictPayload,
  file: { lid: string; eid: string; product: string; issuedAt: string },
): boolean {
  if (verdict.product !== file.product) return false;
  const sameHolder =
    verdict.lid === file.lid || (ENTITLEMENT_VERDICT_CODES.has(verdict.code) && verdict.eid === file.eid);
  return sameHolder && Date.parse(file.issuedAt) <= Date.parse(verdict.issuedAt);
}
