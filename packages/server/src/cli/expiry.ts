import { parseCompactTime } from '../koogallery/time';

/**
 * Expiries typed on the command line (`licenses create|update --expires`, `codes register --expires`). A date
 * alone means the end of that day in UTC (23:59:59.999Z): "valid until 2027-01-31" includes the 31st, the way
 * people read it (midnight would end the license a day early).
 */
export const EXPIRES_FORMS =
  '2027-01-31 (the end of that day, 23:59:59.999 UTC), an ISO date-time such as 2027-01-31T12:00:00Z, or yyyyMMddHHmmss (UTC)';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** The instant an expiry text names, or null when it is not one of EXPIRES_FORMS. */
export function parseExpiryText(text: string): Date | null {
  const v = text.trim();
  const compact = parseCompactTime(v);
  if (compact) return compact;
  if (DATE_ONLY.test(v)) {
    const end = new Date(`${v}T23:59:59.999Z`);
    // 2027-02-30 parses to nothing in ISO form, or rolls over elsewhere: refuse either way.
    return Number.isNaN(end.getTime()) || end.toISOString().slice(0, 10) !== v ? null : end;
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v)) return null;
  const at = new Date(v);
  return Number.isNaN(at.getTime()) ? null : at;
}
