import { createHmac } from 'node:crypto';
import { COMPONENT_NAMES, type ComponentName, type HashedComponents, type RawComponents } from './types';

const SCALAR_NAMES = ['machineId', 'hardwareUuid', 'baseboardSerial', 'cpu'] as const;

/**
 * Placeholders that firmware, hypervisors and WMI/dmidecode report instead of a real identifier (compared after
 * trimming, collapsing whitespace and upper-casing). Keeping them would make unrelated machines look alike.
 * Values made of one repeated character after removing separators (`0`, `00000000`, all-zero or all-F UUIDs,
 * `FF:FF:…`, `XXXXXXXX`, `----`) and values without any letter or digit are junk too (see `isJunk`).
 */
export const JUNK_VALUES: ReadonlySet<string> = new Set([
  'TO BE FILLED BY O.E.M.',
  'TO BE FILLED BY OEM',
  'DEFAULT STRING',
  'DEFAULT',
  'NONE',
  'N/A',
  'NA',
  'NULL',
  'UNDEFINED',
  'UNKNOWN',
  'INVALID',
  'EMPTY',
  'NOT SPECIFIED',
  'NOT APPLICABLE',
  'NOT AVAILABLE',
  'NOT SUPPORTED',
  'NOT PRESENT',
  'NO ASSET INFORMATION',
  'NO ASSET TAG',
  'OEM',
  'O.E.M.',
  'SERIAL',
  'SERIAL NUMBER',
  'SERIALNUMBER',
  'SYSTEM SERIAL NUMBER',
  'SYSTEM PRODUCT NAME',
  'BASE BOARD SERIAL NUMBER',
  'BASEBOARD SERIAL NUMBER',
  'BOARD SERIAL NUMBER',
  'CHASSIS SERIAL NUMBER',
  'TO BE FILLED',
  '0123456789',
  '123456789',
  '1234567890',
  '0123456789ABCDEF',
]);

function clean(value: unknown): string {
  return typeof value === 'string' ? value.trim().replace(/\s+/g, ' ').toUpperCase() : '';
}

function isJunk(v: string): boolean {
  if (v === '' || JUNK_VALUES.has(v)) return true;
  const compact = v.replace(/[\s\-:._{}]/g, '');
  if (!/[0-9A-Z]/.test(compact)) return true;
  return /^(.)\1*$/su.test(compact);
}

/**
 * `AA:BB:CC:DD:EE:FF` for a 48-bit MAC written with `:`, `-`, `.` or no separators; null for anything else and
 * for addresses that never identify a NIC: all-zero, broadcast and multicast (I/G bit set).
 */
export function normalizeMac(value: unknown): string | null {
  const hex = clean(value).replace(/[\s:.-]/g, '');
  if (!/^[0-9A-F]{12}$/.test(hex) || /^0+$/.test(hex)) return null;
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x01) return null;
  return hex.match(/../g)!.join(':');
}

/** Locally administered (U/L bit set): assigned by software, not burned in. */
function isLocallyAdministered(mac: string): boolean {
  return (Number.parseInt(mac.slice(0, 2), 16) & 0x02) !== 0;
}

const uniqueSorted = (values: string[]): string[] => [...new Set(values)].sort();
// Readings may come from JSON at run time: anything but an array reads as no values.
const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * Canonical form of raw readings: trimmed, whitespace collapsed, upper-cased, junk placeholders dropped, lists
 * deduplicated and sorted, MACs as `AA:BB:CC:DD:EE:FF`. A component left without a value is omitted, never invented.
 *
 * Locally administered MACs (Docker's `02:42:…`, VPN/TAP adapters, randomised Wi-Fi addresses) are dropped when
 * the device also has a burned-in one: they come and go, and some (Docker's container MACs derived from the
 * container IP) are identical on many hosts, so they add collisions without adding stability. A device that has
 * only locally administered MACs (KVM guests use `52:54:00:…`) keeps them, since they are its only reading.
 */
export function normalizeComponents(raw: RawComponents): RawComponents {
  const out: RawComponents = {};
  for (const name of SCALAR_NAMES) {
    const v = clean(raw[name]);
    if (!isJunk(v)) out[name] = v;
  }
  const disks = uniqueSorted(
    listOf(raw.diskSerials)
      .map(clean)
      .filter((v) => !isJunk(v)),
  );
  if (disks.length > 0) out.diskSerials = disks;
  const macs = uniqueSorted(
    listOf(raw.macs)
      .map(normalizeMac)
      .filter((m): m is string => m !== null),
  );
  const burnedIn = macs.filter((m) => !isLocallyAdministered(m));
  const kept = burnedIn.length > 0 ? burnedIn : macs;
  if (kept.length > 0) out.macs = kept;
  return out;
}

/** Every present component as a list (single values become one-element lists). */
export function componentLists(c: RawComponents): Partial<Record<ComponentName, string[]>> {
  const out: Partial<Record<ComponentName, string[]>> = {};
  for (const name of COMPONENT_NAMES) {
    const v = c[name];
    if (v === undefined) continue;
    const list = Array.isArray(v) ? v : [v];
    if (list.length > 0) out[name] = list;
  }
  return out;
}

/**
 * Keyed, per-product hashes of the normalised components: each value becomes
 * base64url(HMAC-SHA256(key = "licensor-fp-v1:" + productId, componentName + "\0" + value)). The component name in
 * the message keeps a value from matching across components; the product in the key keeps hashes unlinkable
 * between products. Lists stay lists (sorted hashes); single values become one-element lists.
 */
export function hashComponents(raw: RawComponents, productId: string): HashedComponents {
  const key = `licensor-fp-v1:${productId}`;
  const out: HashedComponents = {};
  for (const [name, values] of Object.entries(componentLists(normalizeComponents(raw))) as [
    ComponentName,
    string[],
  ][]) {
    out[name] = uniqueSorted(values.map((v) => createHmac('sha256', key).update(`${name}\0${v}`).digest('base64url')));
  }
  return out;
}

/** Number of components that carry at least one value. */
export function usableComponentCount(h: HashedComponents): number {
  return COMPONENT_NAMES.filter((name) => (h[name]?.length ?? 0) > 0).length;
}
