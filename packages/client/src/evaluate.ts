/**
 * Offline verdict on a License file for this machine, as a pure function of its inputs (file, pinned
 * verifier, fingerprint, device key, clock, trusted-time mark, last server verdict), so every code is
 * testable with injected fingerprints and clocks.
 */
import {
  type ComponentName,
  devicePublicKeyHash,
  isLicensorCode,
  type LicenseCode,
  type LicenseFamily,
  type LicensePayload,
  type LicenseVerifier,
  LicensorError,
  LOCKING_VERDICT_CODES,
  type MatchResult,
  type MatchRule,
  matchFingerprint,
  matchKooGalleryFingerprint,
  type LicenseStatus as PayloadStatus,
  type VerdictPayload,
  verdictLocks,
} from '@licensor/shared';
import { hashedFingerprint, type MachineFingerprint } from './fingerprint';
import { describeStatus } from './messages';

const DAY = 86_400_000;
const MINUTE = 60_000;

export const DEFAULT_CLOCK_SKEW_MS = 5 * MINUTE;
export const DEFAULT_ROLLBACK_TOLERANCE_MS = 60 * MINUTE;
/** An expiry closer than this adds a warning to a VALID status. */
export const EXPIRY_WARNING_DAYS = 14;

/** The claims of a verified License, for display and for the app's feature decisions. */
export interface LicenseInfo {
  /** License id (the activation id for files issued to an activation). */
  id: string;
  entitlementId: string;
  family: LicenseFamily;
  product: string;
  sku?: string;
  edition?: string;
  entitlements?: string[];
  /** The edition's features, signed in the License: name → true (on) or a number (a limit). */
  features: Record<string, true | number>;
  seats: number;
  status: PayloadStatus;
  issuedAt: string;
  notBefore: string;
  expiresAt: string | null;
  refreshBy: string | null;
  graceUntil: string | null;
  serverTime: string;
  test: boolean;
  signingKeyId: string;
  /** What the file is bound to: keyed component hashes, a KooGallery fingerprint string, or nothing. */
  binding: 'components' | 'koogallery' | 'none';
  rule?: MatchRule;
  deviceKeyBound: boolean;
}

export interface StatusDetail {
  /** Set on a VALID status that needs attention soon (grace period running, expiry close). */
  warning?: string;
  /** Days of offline grace left (past refreshBy, inside graceUntil). */
  graceDaysLeft?: number;
  /** Days until the entitlement ends; null when perpetual. */
  daysLeft?: number | null;
  /** Underlying cause for a failure (an error code or a short token such as `salt-missing`). */
  reason?: string;
  /** Human-readable explanation of `reason`. */
  explanation?: string;
  fingerprint?: { rule: MatchRule; compared: ComponentName[]; matched: ComponentName[]; changed: ComponentName[] };
  clock?: { now: string; trustedTime: string; behindMinutes: number };
  /** The server's own words for its last verdict. */
  serverMessage?: string;
  activationId?: string;
  /** The name this device is registered under (its label, else its host name), as seat lists show it. */
  deviceLabel?: string;
  lastCheckInAt?: string;
}

/** The result of every verification: `valid` plus a stable code, a message for people and the details. */
export interface LicenseStatus {
  valid: boolean;
  code: LicenseCode;
  /** English text saying what happened and what to do next (see `describeStatus` for Chinese). */
  message: string;
  license: LicenseInfo | null;
  detail: StatusDetail;
  checkedAt: string;
}

export function makeStatus(code: LicenseCode, now: number, license: LicenseInfo | null, detail: StatusDetail = {}) {
  const status: LicenseStatus = {
    valid: code === 'VALID',
    code,
    message: describeStatus(code),
    license,
    detail,
    checkedAt: new Date(now).toISOString(),
  };
  return status;
}

export interface EvaluateInput {
  verifier: LicenseVerifier;
  license: string;
  /** Expected product; undefined skips the check (the CLI's `verify` of an arbitrary file). */
  productId?: string;
  fingerprint: MachineFingerprint;
  /**
   * Device public keys (base64url SPKI) this machine holds. A file bound to a device key must name one of
   * them; undefined skips the check (no local state to compare with).
   */
  devicePublicKeys?: string[];
  now: number;
  /** Trusted-time high-water mark; the file's own serverTime is added to it. */
  highWater?: number;
  /** The server's verdict at its last check-in, when it locked the license without a newer file. */
  verdict?: { code: string; message: string; at: number };
  /**
   * The signed verdict record the server handed this device (see `signVerdict`): verified here against the
   * pinned roots; every file of its activation (or entitlement) issued at or before it is locked.
   */
  verdictRecord?: string;
  skewMs?: number;
  rollbackToleranceMs?: number;
}

export interface Evaluation {
  status: LicenseStatus;
  payload?: LicensePayload;
  /** The signing certificate chain of the file (leaf first), when it verified. */
  x5c?: string[];
}

function licenseInfo(payload: LicensePayload, signingKeyId: string): LicenseInfo {
  const info: LicenseInfo = {
    id: payload.lid,
    entitlementId: payload.eid,
    family: payload.family,
    product: payload.product,
    features: { ...payload.features },
    seats: payload.seats,
    status: payload.status,
    issuedAt: payload.issuedAt,
    notBefore: payload.notBefore,
    expiresAt: payload.expiresAt,
    refreshBy: payload.refreshBy,
    graceUntil: payload.graceUntil,
    serverTime: payload.serverTime,
    test: payload.test === true,
    signingKeyId,
    binding: payload.fingerprint?.components ? 'components' : payload.fingerprint?.koogallery ? 'koogallery' : 'none',
    deviceKeyBound: payload.deviceKey !== undefined,
  };
  if (payload.sku !== undefined) info.sku = payload.sku;
  if (payload.edition !== undefined) info.edition = payload.edition;
  if (payload.entitlements !== undefined) info.entitlements = payload.entitlements;
  if (payload.fingerprint) info.rule = payload.fingerprint.rule;
  return info;
}

const STATUS_CODES: Record<Exclude<PayloadStatus, 'active'>, LicenseCode> = {
  frozen: 'FROZEN',
  expired: 'EXPIRED',
  suspended: 'SUSPENDED',
  revoked: 'REVOKED',
  released: 'RELEASED',
};

/**
 * Server verdicts that lock a license until a newer file arrives: lifecycle states, a seat that is gone
 * (NOT_FOUND), a machine the server no longer recognises, and a floating seat that is not available now.
 */
export const LOCKING_VERDICTS: ReadonlySet<string> = new Set(LOCKING_VERDICT_CODES);

const ceilDays = (ms: number) => Math.max(0, Math.ceil(ms / DAY));
const parse = (iso: string | null) => (iso === null ? null : Date.parse(iso));

function matchBound(payload: LicensePayload, fp: MachineFingerprint): MatchResult | undefined {
  const bound = payload.fingerprint;
  if (!bound) return undefined;
  try {
    if (bound.koogallery !== undefined) return matchKooGalleryFingerprint(bound.koogallery, fp.koogallery, bound.rule);
    return matchFingerprint(bound.components ?? {}, hashedFingerprint(fp, payload.product), bound.rule);
  } catch {
    // A malformed bound fingerprint can match nothing.
    return { match: false, compared: [], matched: [], changed: [] };
  }
}

// The last record each verifier accepted: a stored record stays the same for a long time, and warm verify()
// should cost one signature check (the License file's), not two.
const lastVerdicts = new WeakMap<LicenseVerifier, { text: string; payload: VerdictPayload }>();

/** The stored verdict record, if it verifies against the pinned roots (it was verified before it was stored). */
function signedVerdict(input: EvaluateInput): VerdictPayload | undefined {
  const text = input.verdictRecord;
  if (text === undefined) return undefined;
  const cached = lastVerdicts.get(input.verifier);
  if (cached?.text === text) return cached.payload;
  try {
    const { payload } = input.verifier.verifyVerdict(text);
    lastVerdicts.set(input.verifier, { text, payload });
    return payload;
  } catch {
    // Only a verified record is ever stored; one that stops verifying (pinned roots changed) locks nothing.
    return undefined;
  }
}

export function evaluateLicense(input: EvaluateInput): Evaluation {
  const now = input.now;
  const skew = input.skewMs ?? DEFAULT_CLOCK_SKEW_MS;
  const tolerance = input.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS;

  let verified: ReturnType<LicenseVerifier['verify']>;
  try {
    verified = input.verifier.verify(input.license);
  } catch (err) {
    const e = err instanceof LicensorError ? err : undefined;
    // Damaged, foreign-rooted, unsupported or malformed: to the user it is one thing, a file not to trust.
    return {
      status: makeStatus('FILE_SIGNATURE_INVALID', now, null, {
        reason: e?.code ?? 'INTERNAL',
        explanation: e?.message ?? 'The License file could not be verified',
      }),
    };
  }
  const { payload } = verified;
  const info = licenseInfo(payload, verified.signingKeyId);
  const out = (code: LicenseCode, detail: StatusDetail = {}): Evaluation => ({
    status: makeStatus(code, now, info, detail),
    payload,
    x5c: verified.envelope.x5c,
  });

  if (input.productId !== undefined && payload.product !== input.productId) {
    return out('PRODUCT_MISMATCH', {
      reason: 'product',
      explanation: `The file is for product "${payload.product}", this application is "${input.productId}"`,
    });
  }

  if (payload.deviceKey !== undefined && input.devicePublicKeys !== undefined) {
    if (!input.devicePublicKeys.some((k) => devicePublicKeyHash(k) === payload.deviceKey)) {
      return out('FINGERPRINT_MISMATCH', {
        reason: 'device-key',
        explanation: 'The file was issued to another activation (its device key is not on this machine)',
      });
    }
  }
  const match = matchBound(payload, input.fingerprint);
  const fpDetail = match && payload.fingerprint ? { ...match, rule: payload.fingerprint.rule } : undefined;
  if (match && !match.match) {
    const { match: _m, ...rest } = fpDetail!;
    return out('FINGERPRINT_MISMATCH', {
      reason: 'components',
      explanation:
        match.compared.length === 0
          ? 'No hardware component of this machine could be compared with the file'
          : `${match.changed.length} of ${match.compared.length} hardware components differ`,
      fingerprint: rest,
    });
  }

  const record = signedVerdict(input);
  if (record && verdictLocks(record, payload)) {
    return out(record.code, {
      reason: 'server',
      serverMessage: record.message,
      explanation: `The server locked this license (${record.code}) on ${record.issuedAt}, after this file was issued (${payload.issuedAt}); only a newer file from a check-in lifts it`,
    });
  }
  const verdict = input.verdict;
  // A verdict only counts against files issued before it; a newer file carries the newer state.
  if (verdict && LOCKING_VERDICTS.has(verdict.code) && verdict.at >= Date.parse(payload.issuedAt)) {
    const code = isLicensorCode(verdict.code) ? (verdict.code as LicenseCode) : 'REVOKED';
    return out(code, { reason: 'server', serverMessage: verdict.message });
  }
  if (payload.status !== 'active') return out(STATUS_CODES[payload.status], { reason: 'file-status' });

  const trusted = Math.max(input.highWater ?? 0, Date.parse(payload.serverTime));
  if (now < trusted - tolerance) {
    return out('TIME_MODIFIED', {
      reason: 'clock-behind-trusted-time',
      clock: {
        now: new Date(now).toISOString(),
        trustedTime: new Date(trusted).toISOString(),
        behindMinutes: Math.round((trusted - now) / MINUTE),
      },
    });
  }
  // Judge windows by the later of the clock and the trusted mark: a rollback inside the tolerance gains nothing.
  const t = Math.max(now, trusted);

  if (t + skew < Date.parse(payload.notBefore)) return out('NOT_YET_VALID', { reason: 'notBefore' });
  const expiresAt = parse(payload.expiresAt);
  if (expiresAt !== null && t - skew > expiresAt) return out('EXPIRED', { reason: 'expiresAt', daysLeft: 0 });
  const daysLeft = expiresAt === null ? null : ceilDays(expiresAt - t);

  const refreshBy = parse(payload.refreshBy);
  const graceUntil = parse(payload.graceUntil);
  const detail: StatusDetail = { daysLeft };
  if (fpDetail) {
    const { match: _m, ...rest } = fpDetail;
    detail.fingerprint = rest;
  }
  if (refreshBy !== null && t - skew > refreshBy) {
    if (graceUntil === null || graceUntil <= refreshBy) return out('FILE_EXPIRED', { reason: 'refreshBy', daysLeft });
    if (t - skew > graceUntil) return out('GRACE_PERIOD_OVER', { reason: 'graceUntil', daysLeft });
    const left = ceilDays(graceUntil - t);
    detail.graceDaysLeft = left;
    detail.warning = `The license must be refreshed online: it keeps working offline for ${left} more day${left === 1 ? '' : 's'}. Connect to the internet so the application can check in.`;
  } else if (daysLeft !== null && daysLeft <= EXPIRY_WARNING_DAYS) {
    detail.warning = `The license expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'}. Renew it to keep using the application.`;
  }
  return out('VALID', detail);
}
