import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { linuxNetworkInterfaces, linuxUuid } from './fingerprintLinux';

const addr = (mac: string, internal = false): NetworkInterfaceInfo => ({
  address: '10.0.0.2',
  netmask: '255.0.0.0',
  family: 'IPv4',
  mac,
  internal,
  cidr: '10.0.0.2/8',
});

describe('Linux readings without systeminformation', () => {
  // The point of reading these directly is the same answer: a License bound to systeminformation's readings must
  // keep matching. Compared on the real host, field by field, as the fingerprint uses them.
  it.skipIf(process.platform !== 'linux')('answer what systeminformation answers on this host', async () => {
    const si = (await import('systeminformation')).default;
    const [uuid, nets] = await Promise.all([si.uuid(), si.networkInterfaces()]);
    expect(linuxUuid()).toEqual({ os: uuid.os, hardware: uuid.hardware, macs: uuid.macs });
    const pick = (list: unknown) =>
      (Array.isArray(list) ? list : [list]).map((i: Record<string, unknown>) => ({
        iface: i.iface,
        mac: i.mac,
        internal: i.internal,
        virtual: i.virtual,
        virtualType: i.type === 'virtual',
      }));
    expect(pick(linuxNetworkInterfaces())).toEqual(pick(nets));
  });

  it('takes the dbus machine id when that file exists (even empty), the SMBIOS UUID, else the cpuinfo serial', () => {
    const files = (map: Record<string, string>) => (path: string) => map[path];
    expect(
      linuxUuid(
        files({
          '/var/lib/dbus/machine-id': '3D1219C7C4C5404AAA1F6D2A48ADFDA4\n',
          '/etc/machine-id': 'other\n',
          '/sys/class/dmi/id/product_uuid': '4C4C4544-0042-3510-8052-B4C04F4E3132\n',
        }),
        {},
      ),
    ).toEqual({ os: '3d1219c7c4c5404aaa1f6d2a48adfda4', hardware: '4c4c4544-0042-3510-8052-b4c04f4e3132', macs: [] });
    expect(
      linuxUuid(
        files({
          '/var/lib/dbus/machine-id': '',
          '/etc/machine-id': 'other\n',
          '/proc/cpuinfo': 'Serial\t\t: 00000000a1b2c3d4\n',
        }),
        {},
      ),
    ).toEqual({ os: '', hardware: '00000000a1b2c3d4', macs: [] });
    expect(linuxUuid(files({ '/etc/machine-id': 'abc\n' }), {}).os).toBe('abc');
  });

  it('lists every MAC once, lower case, without masked ones', () => {
    const { macs } = linuxUuid(() => undefined, {
      lo: [addr('00:00:00:00:00:00', true)],
      eth0: [addr('04:7C:16:5E:E3:5D'), addr('04:7C:16:5E:E3:5D')],
      wlan0: [addr('3c:a9:f4:12:34:56')],
    });
    expect(macs).toEqual(['04:7c:16:5e:e3:5d', '3c:a9:f4:12:34:56']);
  });

  it('marks loopback, bonds and hypervisor NICs as systeminformation does', () => {
    const nics = linuxNetworkInterfaces({
      lo: [addr('00:00:00:00:00:00', true)],
      eth0: [addr('04:7c:16:5e:e3:5d')],
      bond0: [addr('04:7c:16:5e:e3:5e')],
      ens3: [addr('00:50:56:c0:00:08')],
      veth12ab: [addr('0a:58:0a:f4:00:01')],
      'eth1:1': [addr('04:7c:16:5e:e3:60')],
    });
    expect(nics).toEqual([
      { iface: 'lo', mac: '00:00:00:00:00:00', internal: true, virtual: false, type: 'virtual' },
      { iface: 'eth0', mac: '04:7c:16:5e:e3:5d', internal: false, virtual: false, type: 'physical' },
      { iface: 'bond0', mac: '04:7c:16:5e:e3:5e', internal: false, virtual: false, type: 'virtual' },
      { iface: 'ens3', mac: '00:50:56:c0:00:08', internal: false, virtual: true, type: 'physical' },
      { iface: 'veth12ab', mac: '0a:58:0a:f4:00:01', internal: false, virtual: true, type: 'physical' },
      { iface: 'eth1', mac: '04:7c:16:5e:e3:60', internal: false, virtual: false, type: 'physical' },
    ]);
  });
});
