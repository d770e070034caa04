import { randomBytes, randomUUID } from 'node:crypto';

/** Identifiers shaped like the marketplace's: `CS…` orders, `-000001` order lines, `PL…` codes. */
const alnum = (n: number) => [...randomBytes(n)].map((b) => 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'[b % 32]).join('');

export const ids = {
  order: (d = new Date()) => `CS${d.toISOString().slice(2, 16).replace(/[-:T]/g, '')}${alnum(5)}`,
  orderLine: (orderId: string, n = 1) => `${orderId}-${String(n).padStart(6, '0')}`,
  code: () => `PL${alnum(14)}`,
  event: () => randomUUID(),
  business: () => randomUUID(),
  customer: () => randomBytes(16).toString('hex'),
  nonce: () => randomBytes(32).toString('hex').toUpperCase(),
  /** A KooGallery device fingerprint `MAC|disk|board|CPU` for a made-up machine. */
  fingerprint: () => {
    const mac = (randomBytes(6).toString('hex').match(/../g) ?? []).join(':');
    const disk = (randomBytes(8).toString('hex').match(/..../g) ?? []).join('_');
    return `${mac}|${disk}.|${alnum(10)}|BFEBFBFF${randomBytes(4).toString('hex')}`.toUpperCase();
  },
};

// The marketplace's own clock formats, written here rather than borrowed from the server: the simulator plays
// the other side of the wire and must not share a formatting bug with the code it exercises.
/** `yyyyMMddHHmmss` (UTC). */
export const compact = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
/** `yyyyMMddHHmmssSSS` (UTC): scheme A's `timeStamp`. */
export const compactMs = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:T.Z]/g, '')
    .slice(0, 17);
/** `yyyy-MM-dd HH:mm:ss z`, getLicenseAsync's form. */
export const spaced = (d: Date) => `${d.toISOString().slice(0, 19).replace('T', ' ')} z`;
export const daysFromNow = (n: number) => new Date(Date.now() + n * 86_400_000);
