/**
 * The two systeminformation queries whose Linux answers are plain file and kernel reads, done here directly:
 * `uuid()` (a shell running `cat` on the machine id and the SMBIOS UUID) and `networkInterfaces()` (which spawns a
 * shell per interface for details the fingerprint never uses). Same sources, same rules as systeminformation 5
 * (lib/osinfo.js `uuid`, lib/network.js `networkInterfaces` and `testVirtualNic`), so a License bound to
 * systeminformation's readings still matches these — `fingerprintLinux.test.ts` compares both on the host.
 * Together they were ≈ 60 % of a cold collection's wall time and all of its per-interface processes.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const firstLine = (text: string | undefined) => (text ?? '').split('\n')[0]!.trim();

/** systeminformation's `getValue(lines, 'serial')` on /proc/cpuinfo: the first line starting with `serial`. */
function cpuinfoSerial(cpuinfo: string | undefined): string {
  for (const line of (cpuinfo ?? '').split('\n')) {
    if (line.toLowerCase().replace(/\t/g, '').startsWith('serial')) {
      const parts = line.split(':');
      if (parts.length >= 2) return parts.slice(1).join(':').trim();
    }
  }
  return '';
}

const MASKED_MACS = ['00:00:00:00:00:00', '02:00:00:00:00:00'];

/** Every MAC the OS reports, lower case, unique, masked ones left out (systeminformation's uuid().macs). */
function uniqueMacs(ifaces: NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>): string[] {
  const macs: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const details of list ?? []) {
      const mac = details?.mac?.toLowerCase();
      if (mac && !MASKED_MACS.includes(mac) && !macs.includes(mac)) macs.push(mac);
    }
  }
  return macs;
}

/** `uuid()` on Linux: dbus machine id (else /etc/machine-id), SMBIOS product UUID (else the cpuinfo serial). */
export function linuxUuid(
  read: ReadText = readText,
  ifaces = networkInterfaces(),
): { os: string; hardware: string; macs: string[] } {
  // `cat /var/lib/dbus/machine-id || cat /etc/machine-id`: the first file that exists wins, even if empty.
  const dbus = read('/var/lib/dbus/machine-id');
  const os = firstLine(dbus ?? read('/etc/machine-id')).toLowerCase();
  const hardware =
    firstLine(read('/sys/class/dmi/id/product_uuid')).toLowerCase() || cpuinfoSerial(read('/proc/cpuinfo'));
  return { os, hardware, macs: uniqueMacs(ifaces) };
}

// systeminformation's list of hypervisor OUIs (00:15:5d is lower case there and so never matches an upper-cased
// MAC: kept as is, the point is the same answer).
const VIRTUAL_MACS = [
  '00:00:00:00:00:00',
  '00:03:FF',
  '00:05:69',
  '00:0C:29',
  '00:0F:4B',
  '00:13:07',
  '00:13:BE',
  '00:15:5d',
  '00:16:3E',
  '00:1C:42',
  '00:21:F6',
  '00:24:0B',
  '00:50:56',
  '00:A0:B1',
  '00:E0:C8',
  '08:00:27',
  '0A:00:27',
  '18:92:2C',
  '16:DF:49',
  '3C:F3:92',
  '54:52:00',
  'FC:15:97',
];

function testVirtualNic(name: string, mac: string): boolean {
  if (!mac) return false;
  const n = name.toLowerCase();
  return (
    VIRTUAL_MACS.some((item) => mac.toUpperCase().startsWith(item.substring(0, mac.length))) ||
    n.includes(' virtual ') ||
    n.includes('vethernet ') ||
    n.startsWith('veth') ||
    n.startsWith('vboxnet')
  );
}

/** systeminformation's `sanitizeString(name, true)`: shell metacharacters, quotes, brackets and spaces removed. */
const sanitizeStrict = (name: string) =>
  name.slice(0, 2001).replace(/[><*?[\]|\u02da$;&#%!^\\\t\n\r'`"\0\u2018-\u201e\u2013-\u2015()@ {}]/g, '');

/** What the fingerprint reads of systeminformation's `networkInterfaces()` on Linux, from the same os call. */
export function linuxNetworkInterfaces(
  ifaces = networkInterfaces(),
): { iface: string; mac: string; internal: boolean; virtual: boolean; type: string }[] {
  const out: { iface: string; mac: string; internal: boolean; virtual: boolean; type: string }[] = [];
  for (const [dev, list] of Object.entries(ifaces)) {
    if (!list || list.length === 0) continue;
    const mac = list[list.length - 1]!.mac ?? ''; // the last address's, as systeminformation takes it
    const iface = sanitizeStrict(dev.split(':')[0]!.trim());
    const internal = list[0]!.internal || dev.toLowerCase().includes('loopback');
    out.push({
      iface,
      mac,
      internal,
      virtual: internal ? false : testVirtualNic(dev, mac),
      type: iface === 'lo' || iface.startsWith('bond') ? 'virtual' : 'physical',
    });
  }
  return out;
}
