import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { isPrivateAddress, resolveDestination } from './address';
import { newWebhookSecret, secretKey, signWebhook, verifyWebhook } from './signing';

describe('Standard Webhooks signatures', () => {
  it('verify with the standardwebhooks library, and fail for another body, id or secret', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ type: 'license.created', data: { id: 'x' } });
    const headers = signWebhook(secret, 'msg_1', Math.floor(Date.now() / 1000), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(verifyWebhook(secret, headers, body)).toBe(true);
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'msg_2' })).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
    expect(verifyWebhook(newWebhookSecret(), headers, body)).toBe(false);
  });

  it('refuses secrets that are not whsec_ + 24..64 bytes of base64', () => {
    expect(() => secretKey('hunter2')).toThrow(/whsec_/);
    expect(() => secretKey(`whsec_${Buffer.alloc(8).toString('base64')}`)).toThrow(/24 to 64 bytes/);
    expect(secretKey(`whsec_${Buffer.alloc(32, 1).toString('base64')}`)).toHaveLength(32);
  });
});

describe('SSRF guard', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.31.255.255',
    '192.168.0.10',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fd12:3456::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
    'not-an-ip',
    // IPv6 forms that carry an IPv4 address are refused whatever they carry: an IPv4-mapped public address, its
    // expanded spelling, IPv4-compatible and -translated forms, NAT64 (well-known and local-use), 6to4 of
    // 192.168.1.1 and of a public address, Teredo.
    '::ffff:8.8.8.8',
    '0:0:0:0:0:ffff:c0a8:0101',
    '::8.8.8.8',
    '::ffff:0:808:808',
    '64:ff9b::8.8.8.8',
    '64:ff9b:1::a00:1',
    '2002:c0a8:0101::1',
    '2002:0808:0808::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  ])('%s is not public', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '2001:4860:4860::8888'])('%s is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('refuses a name when any of its addresses is private, and returns the checked address otherwise', async () => {
    const resolve = async (host: string) =>
      host === 'mixed.example'
        ? [
            { address: '93.184.216.34', family: 4 },
            { address: '10.0.0.7', family: 4 },
          ]
        : [{ address: '93.184.216.34', family: 4 }];
    await expect(resolveDestination('mixed.example', { allowPrivate: false, resolve })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringContaining('10.0.0.7'),
    });
    await expect(resolveDestination('mixed.example', { allowPrivate: true, resolve })).resolves.toEqual({
      address: '93.184.216.34',
      family: 4,
    });
    await expect(resolveDestination('[::1]', { allowPrivate: false, resolve })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    // A name whose AAAA record is a 6to4 address of a private network is refused like the network itself.
    const sixToFour = async () => [{ address: '2002:a00:1::1', family: 6 }];
    await expect(
      resolveDestination('tunnel.example', { allowPrivate: false, resolve: sixToFour }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('2002:a00:1::1') });
    await expect(resolveDestination('public.example', { allowPrivate: false, resolve })).resolves.toMatchObject({
      address: '93.184.216.34',
    });
  });
});
