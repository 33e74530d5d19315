// The packet tracer (test/support/tracer.ts) walks the fake nft's table as the kernel would.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rule, Transaction } from '../src/nft/operations.js';
import { FakeNft } from './support/fake-nft.js';
import { ROOT } from './support/paths.js';
import { Tracer, type Packet } from './support/tracer.js';

/** The reviewed golden table of the production-isolation seed on node-1 (backend .20, database .21). */
async function golden(): Promise<Tracer> {
  const fake = new FakeNft();
  await fake.apply(readFileSync(join(ROOT, 'test', 'golden', 'seed-production-isolation-node-1.nft'), 'utf8'));
  return new Tracer(fake.table('nftpol')!);
}

const tcp = (src: string, dst: string, port: number, extra: Partial<Packet> = {}): Packet => ({ hook: 'forward', src, dst, protocol: 'tcp', port, ...extra });

test('ingress: the verdict map jumps to the pod chain, whose set lookup and port accept', async () => {
  const trace = (await golden()).trace(tcp('10.244.0.20', '10.244.1.20', 8080));
  expect(trace).toEqual({
    verdict: 'accept',
    path: ['forward[6]: ip daddr vmap @ingress-v4', 'in-52e0bcdcb87c2e89[0]: ip saddr @peer-862bc10306b2-v4 meta l4proto tcp th dport 8080 accept'],
  });
});

test('ingress: a port no rule allows is counted against the pod and dropped', async () => {
  const trace = (await golden()).trace(tcp('10.244.0.20', '10.244.1.20', 9090));
  expect(trace.verdict).toBe('drop');
  expect(trace.path.slice(1)).toEqual(['in-52e0bcdcb87c2e89[2]: counter name ip daddr map @deny-in-v4', '  counted in deny-in-production-backend-65ab3a42a5', 'in-52e0bcdcb87c2e89[3]: drop']);
});

test('egress that is allowed returns to the base chain, where the destination still gets its ingress check', async () => {
  const tracer = await golden();
  const allowed = tracer.trace(tcp('10.244.1.20', '10.244.1.21', 5432));
  expect(allowed.verdict).toBe('accept');
  expect(allowed.path.map((p) => p.split(':')[0])).toEqual(['forward[4]', 'out-d341e81d12d99f84[2]', 'forward[6]', 'in-c538055881fc8a97[0]']);
  // Egress allows DNS to the database pod, its ingress does not.
  expect(tracer.trace({ hook: 'forward', src: '10.244.1.20', dst: '10.244.1.21', protocol: 'udp', port: 53 }).verdict).toBe('drop');
  expect(tracer.trace(tcp('10.244.1.20', '10.244.1.21', 5433)).path.at(-1)).toBe('out-d341e81d12d99f84[4]: drop');
});

test('a pod reaching itself, established connections, and traffic nothing selects take the early exits', async () => {
  const tracer = await golden();
  expect(tracer.trace(tcp('10.244.1.20', '10.244.1.20', 1)).path).toEqual(['forward[2]: ip saddr . ip daddr @self-v4 accept']);
  expect(tracer.trace(tcp('10.244.0.20', '10.244.1.20', 9090, { ctState: 'established' })).path).toEqual(['forward[0]: ct state established,related accept']);
  expect(tracer.trace(tcp('10.244.0.20', '10.244.0.30', 1))).toEqual({ verdict: 'accept', path: ['forward: policy accept'] });
  expect(tracer.trace({ hook: 'forward', src: 'fd00::1', dst: 'fd00::2', protocol: 'icmpv6', port: 0, icmpv6Type: 'nd-neighbor-solicit' }).verdict).toBe('accept');
});

test('input: a pod talking to its node gets only its egress check', async () => {
  const tracer = await golden();
  expect(tracer.trace({ hook: 'input', src: '10.244.1.21', dst: '192.168.0.1', protocol: 'udp', port: 53 })).toEqual({
    verdict: 'accept',
    path: ['input[2]: ip saddr vmap @egress-v4', 'out-90372d866641484a[1]: meta l4proto udp th dport 53 return', 'input: policy accept'],
  });
  expect(tracer.trace({ hook: 'input', src: '10.244.1.21', dst: '192.168.0.1', protocol: 'tcp', port: 80 }).verdict).toBe('drop');
});

test('interval sets, concatenations, anonymous sets, prefixes, goto and reject', () => {
  const fake = new FakeNft();
  fake.run(
    new Transaction('t')
      .add({ kind: 'table' })
      .add({ kind: 'set', name: 'block', type: ['ipv4_addr'], interval: true, elements: ['10.0.0.0-10.0.0.1', '10.0.0.3-10.0.0.255'] })
      .add({ kind: 'set', name: 'named', type: ['ipv6_addr', 'inet_proto', 'inet_service'], elements: ['fd00::5 . tcp . 8080'] })
      .add({ kind: 'chain', name: 'tail', rules: [rule('meta l4proto sctp reject with icmpx admin-prohibited'), rule('return')] })
      .add({
        kind: 'chain',
        name: 'pol',
        rules: [
          rule('ip daddr @block meta l4proto udp th dport { 53, 5000-5010 } accept', { sets: ['block'] }),
          rule('ip6 daddr . meta l4proto . th dport @named accept', { sets: ['named'] }),
          rule('ip daddr 192.168.0.0/16 meta l4proto tcp accept'),
          rule('goto tail', { chains: ['tail'] }),
        ],
      })
      .add({ kind: 'chain', name: 'forward', hook: { type: 'filter', hook: 'forward', priority: 'filter', policy: 'drop' }, rules: [rule('jump pol', { chains: ['pol'] }), rule('accept')] }),
  );
  const tracer = new Tracer(fake.table('t')!);
  const verdict = (dst: string, protocol: Packet['protocol'], port: number) => tracer.trace({ hook: 'forward', src: dst.includes(':') ? 'fd00::1' : '10.9.9.9', dst, protocol, port }).verdict;
  expect(verdict('10.0.0.7', 'udp', 5005)).toBe('accept');
  // The hole in the interval set, and a port outside the anonymous set, fall through to goto tail,
  // whose return goes back past pol (goto does not come back) to forward's next rule.
  expect(tracer.trace({ hook: 'forward', src: '10.9.9.9', dst: '10.0.0.2', protocol: 'udp', port: 53 }).path).toEqual(['forward[0]: jump pol', 'pol[3]: goto tail', 'tail[1]: return', 'forward[1]: accept']);
  expect(verdict('10.0.0.7', 'udp', 5011)).toBe('accept');
  expect(verdict('fd00::5', 'tcp', 8080)).toBe('accept');
  expect(tracer.trace({ hook: 'forward', src: 'fd00::1', dst: 'fd00::5', protocol: 'tcp', port: 8081 }).path).toContain('tail[1]: return');
  expect(verdict('192.168.4.4', 'tcp', 1)).toBe('accept');
  expect(verdict('192.168.4.4', 'sctp', 1)).toBe('reject');
});

test('a rule the tracer cannot read is an error, not a guess', () => {
  const fake = new FakeNft();
  fake.run(new Transaction('t').add({ kind: 'table' }).add({ kind: 'chain', name: 'forward', hook: { type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' }, rules: [rule('meta mark 0x1 drop')] }));
  expect(() => new Tracer(fake.table('t')!).trace(tcp('10.0.0.1', '10.0.0.2', 80))).toThrow(/cannot read "meta mark 0x1 drop"/);
});
