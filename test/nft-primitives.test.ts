// nft names and ipBlock intervals, checked as text and, where nft is installed, by the real nft parser in
// a throwaway network namespace (`unshare -n`: nothing outside it is touched, nothing is left behind).
import { execa } from 'execa';
import { blockRanges, rangeElement } from '../src/nft/intervals.js';
import { isSafeName, objectName } from '../src/nft/vocabulary.js';

describe('object names', () => {
  test('are deterministic, readable and safe', () => {
    const name = objectName('pod', 'default/web-1');
    expect(name).toBe(objectName('pod', 'default/web-1'));
    expect(name).toMatch(/^pod-default-web-1-[0-9a-f]{10}$/);
    expect(isSafeName(name)).toBe(true);
  });

  test.each([
    'x/"; flush ruleset; "',
    'x/a\nadd rule inet filter input drop',
    'ns/{ 10.0.0.1 }',
    'ns/pod with spaces and UPPER',
    `n/${'very-long-name-'.repeat(20)}`,
    '//',
  ])('cannot be injected into: %j', (identity) => {
    expect(isSafeName(objectName('pod', identity))).toBe(true);
  });

  test('stay unique when sanitizing makes identities look alike', () => {
    expect(objectName('pod', 'a/b.c')).not.toBe(objectName('pod', 'a/b-c'));
    const long = 'x'.repeat(100);
    expect(objectName('set', `${long}1`)).not.toBe(objectName('set', `${long}2`));
  });
});

describe('ipBlock intervals', () => {
  test('a CIDR without exceptions is one range', () => {
    expect(blockRanges('10.0.0.0/8', []).map(rangeElement)).toEqual(['10.0.0.0-10.255.255.255']);
  });

  test('exceptions cut holes, also nested and at the edges', () => {
    expect(blockRanges('10.0.0.0/24', ['10.0.0.0/26', '10.0.0.128/32', '10.0.0.192/26', '10.0.0.130/31']).map(rangeElement)).toEqual([
      '10.0.0.64-10.0.0.127',
      '10.0.0.129',
      '10.0.0.132-10.0.0.191',
    ]);
  });

  test('IPv6', () => {
    expect(blockRanges('fd00::/64', ['fd00::/65']).map(rangeElement)).toEqual(['fd00::8000:0:0:0-fd00::ffff:ffff:ffff:ffff']);
  });
});

async function nftAvailable(): Promise<boolean> {
  const r = await execa('unshare', ['-n', 'nft', '--version'], { reject: false });
  return r.exitCode === 0;
}

test('nft itself accepts the names and the interval elements (nft -c in a throwaway namespace)', async () => {
  if (!(await nftAvailable())) {
    // CI installs nftables and runs as root; a developer machine without them says so instead of passing.
    throw new Error('this test needs root and nft (apt-get install nftables)');
  }
  const set = objectName('peer', 'x/"; flush ruleset');
  const v4 = blockRanges('10.0.0.0/16', ['10.0.1.0/24', '10.0.3.7/32']).map(rangeElement);
  const v6 = blockRanges('fd00::/48', ['fd00:0:0:1::/64']).map(rangeElement);
  const script = [
    'table inet nftpol_check {',
    `  set ${set}-v4 { type ipv4_addr; flags interval; elements = { ${v4.join(', ')} } }`,
    `  set ${set}-v6 { type ipv6_addr; flags interval; elements = { ${v6.join(', ')} } }`,
    '}',
  ].join('\n');
  const r = await execa('unshare', ['-n', 'nft', '-c', '-f', '-'], { input: script, reject: false });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
});
