// The denied-connection log's userspace half: NFLOG datagrams and IP headers read right, one line per
// attempt (retransmissions folded), both ends named, the denying side's policies listed.
import { DenyLog, DEDUPE_WINDOW_MS, type DeniedConnection } from '../src/agent/denylog.js';
import { parseIpPacket, parseNflogDatagram, type LoggedPacket } from '../src/agent/nflog.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { normalizePolicy } from '../src/model/normalize.js';
import { denyLogObjects } from '../src/nft/denylog.js';

function attr(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + value.length, 0);
  header.writeUInt16LE(type, 2);
  return Buffer.concat([header, value, Buffer.alloc((4 - ((4 + value.length) % 4)) % 4)]);
}

/** An NFULNL_MSG_PACKET message as the kernel sends it, with a prefix and a payload. */
function nflogMessage(prefix: string, payload: Buffer, type = (4 << 8) | 0): Buffer {
  const attrs = Buffer.concat([attr(1, Buffer.alloc(4)), attr(10, Buffer.from(`${prefix}\0`, 'latin1')), attr(9, payload)]);
  const header = Buffer.alloc(20);
  header.writeUInt32LE(20 + attrs.length, 0);
  header.writeUInt16LE(type, 4);
  header[16] = 2; // nfgenmsg: AF_INET
  return Buffer.concat([header, attrs]);
}

function ipv4Tcp(src: string, dst: string, sport: number, dport: number, protocol = 6): Buffer {
  const packet = Buffer.alloc(40);
  packet[0] = 0x45;
  packet[9] = protocol;
  src.split('.').forEach((b, i) => (packet[12 + i] = Number(b)));
  dst.split('.').forEach((b, i) => (packet[16 + i] = Number(b)));
  packet.writeUInt16BE(sport, 20);
  packet.writeUInt16BE(dport, 22);
  return packet;
}

test('an NFLOG datagram with two messages gives both packets, with their prefixes; other message types are skipped', () => {
  const datagram = Buffer.concat([
    nflogMessage('nftpol-in', ipv4Tcp('10.244.1.10', '10.244.0.10', 40000, 80)),
    nflogMessage('nftpol-in', ipv4Tcp('1.2.3.4', '5.6.7.8', 1, 2), (4 << 8) | 1),
    nflogMessage('nftpol-out', ipv4Tcp('10.244.0.10', '10.244.1.11', 40001, 53, 17)),
  ]);
  expect(parseNflogDatagram(datagram)).toEqual([
    { prefix: 'nftpol-in', family: 'IPv4', protocol: 'TCP', src: '10.244.1.10', dst: '10.244.0.10', sport: 40000, dport: 80 },
    { prefix: 'nftpol-out', family: 'IPv4', protocol: 'UDP', src: '10.244.0.10', dst: '10.244.1.11', sport: 40001, dport: 53 },
  ]);
  // A truncated datagram gives what is whole and no garbage.
  expect(parseNflogDatagram(datagram.subarray(0, datagram.length - 10))).toHaveLength(1);
});

test('IPv6 addresses are written as RFC 5952 does; SCTP has ports, ICMP has none', () => {
  const packet = Buffer.alloc(48);
  packet[0] = 0x60;
  packet[6] = 132;
  Buffer.from('fd000000000000000000000000000010', 'hex').copy(packet, 8);
  Buffer.from('fd00000100020000000000000000000a', 'hex').copy(packet, 24);
  packet.writeUInt16BE(5000, 40);
  packet.writeUInt16BE(9000, 42);
  expect(parseIpPacket(packet)).toEqual({ family: 'IPv6', protocol: 'SCTP', src: 'fd00::10', dst: 'fd00:1:2::a', sport: 5000, dport: 9000 });
  expect(parseIpPacket(ipv4Tcp('10.0.0.1', '10.0.0.2', 0, 0, 1))).toMatchObject({ protocol: 'ICMP', sport: null, dport: null });
  expect(parseIpPacket(Buffer.from([0x45, 0]))).toBeNull();
});

function engineWithPolicy(): PolicyEngine {
  const engine = new PolicyEngine('node-0');
  engine.upsertNamespace({ name: 'prod', labels: {} } as never);
  engine.upsertPod({ namespace: 'prod', name: 'db', labels: { app: 'db' }, node: 'node-0', ips: ['10.244.0.10'], phase: 'Running', hostNetwork: false, ports: [] });
  engine.upsertPod({ namespace: 'prod', name: 'web', labels: { app: 'web' }, node: 'node-1', ips: ['10.244.1.10'], phase: 'Running', hostNetwork: false, ports: [] });
  engine.upsertPolicy(normalizePolicy({ metadata: { namespace: 'prod', name: 'db-from-api' }, spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] } as never] } }).policy);
  return engine;
}

const syn = (sport: number, prefix = 'nftpol-in'): LoggedPacket => ({ prefix, family: 'IPv4', protocol: 'TCP', src: '10.244.1.10', dst: '10.244.0.10', sport, dport: 5432 });

test('one line per attempt: retransmitted SYNs are folded for the window, a new source port is a new attempt', () => {
  let now = 1_000_000;
  const lines: { entry: DeniedConnection; namespace: string }[] = [];
  const log = new DenyLog(engineWithPolicy(), { denied: (entry, namespace) => lines.push({ entry, namespace }) }, () => now);
  log.handle(syn(40000));
  for (const gap of [1000, 2000, 4000, 8000, 16000, 32000]) {
    now += gap;
    log.handle(syn(40000));
  }
  expect(lines).toHaveLength(1);
  expect(lines[0]).toEqual({
    namespace: 'prod',
    entry: { direction: 'ingress', src: 'prod/web', dst: 'prod/db', family: 'IPv4', protocol: 'TCP', port: 5432, policies: ['prod/db-from-api'] },
  });
  log.handle(syn(40001));
  expect(lines).toHaveLength(2);
  // After the window, the same tuple is a new attempt, and forgotten tuples free their memory.
  now += DEDUPE_WINDOW_MS + 1;
  log.handle(syn(40000));
  expect(lines).toHaveLength(3);
  expect(log.remembered).toBe(1);
  // Packets logged by someone else's rule into the same group are not ours.
  log.handle(syn(40002, 'other'));
  expect(lines).toHaveLength(3);
});

test('an address that is no pod is written as the address', () => {
  const lines: DeniedConnection[] = [];
  const log = new DenyLog(engineWithPolicy(), { denied: (entry) => lines.push(entry) });
  log.handle({ ...syn(1), src: '192.0.2.7' });
  expect(lines[0]).toMatchObject({ src: '192.0.2.7', dst: 'prod/db', policies: ['prod/db-from-api'] });
});

test('the log chains share one limit between both directions and count what it suppresses', () => {
  const text = denyLogObjects({ group: 9745, ratePerSecond: 20 }).join('\n');
  expect(text.match(/limit name "deny-log"/g)).toHaveLength(2);
  expect(text).toMatch(/limit deny-log \{ rate 20\/second burst 20 packets \}/);
  expect(text).toMatch(/log prefix "nftpol-in" group 9745 snaplen 128 return\n\s+counter name "deny-log-suppressed-in"/);
});
