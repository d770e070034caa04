/**
 * Marketplace time formats. Everything the marketplace sends is UTC:
 * - `yyyyMMddHHmmss` (14 digits) and `yyyyMMddHHmmssSSS` (17 digits, seen in refreshInstance examples);
 * - `yyyy-MM-dd HH:mm:ss z` in getLicenseAsync (`2023-10-27 10:30:15 z`; the trailing zone letter is tolerated).
 */
export function parseCompactTime(value: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$/.exec(value);
  if (!m) return null;
  return fromParts(m.slice(1, 7).map(Number), m[7] ? Number(m[7]) : 0);
}

export function parseSpacedTime(value: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?\s*(?:z|Z|UTC|GMT|\+00:?00)?$/.exec(
    value.trim(),
  );
  if (!m) return parseCompactTime(value.trim());
  return fromParts(m.slice(1, 7).map(Number), m[7] ? Number(m[7].padEnd(3, '0')) : 0);
}

function fromParts([y, mo, d, h, mi, s]: number[], ms: number): Date | null {
  const date = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms));
  // Reject 20231301… and friends instead of letting Date roll them over.
  if (
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo! - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== h ||
    date.getUTCMinutes() !== mi ||
    date.getUTCSeconds() !== s
  ) {
    return null;
  }
  return date;
}

/** `yyyyMMddHHmmss` in UTC, the form the marketplace and the admin API use. */
export function formatCompactTime(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** `yyyyMMddHHmmssSSS` in UTC: scheme A's `timeStamp`. */
export function formatCompactTimeMs(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T.Z]/g, '')
    .slice(0, 17);
}
