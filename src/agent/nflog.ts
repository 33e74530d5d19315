// Packets that nftables sends to an NFLOG group (`log group N`), read by the agent. Node.js has no
// AF_NETLINK sockets, and no maintained npm package offers NETLINK_NETFILTER (the `netlink` package is a
// native addon for route netlink, last released years ago), so a helper of about twenty lines of Python,
// whose socket module speaks AF_NETLINK, binds the group and hands every datagram over as one hex line.
// Everything that interprets those bytes is here in TypeScript, small and unit-tested.
import { execa, type ResultPromise } from 'execa';
import { createInterface } from 'node:readline';
import type { Family } from '../model/types.js';

/**
 * Binds NFLOG group argv[1] (NFULNL_CFG_CMD_BIND, then copy mode "packet" with a copy range), then writes
 * each datagram it receives as a hex line. "ready" once bound; "lost" when the socket buffer overflowed
 * (the kernel dropped log messages). Binding needs CAP_NET_ADMIN in the network namespace, nothing more.
 */
export const NFLOG_HELPER = String.raw`
import os, socket, struct, sys
group, snaplen = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((0, 0))
def attr(kind, data):
    n = 4 + len(data)
    return struct.pack('=HH', n, kind) + data + b'\0' * (-n % 4)
def config(attrs):
    body = struct.pack('!BBH', 0, 0, group) + attrs
    s.send(struct.pack('=IHHII', 16 + len(body), (4 << 8) | 1, 1 | 4, 0, 0) + body)  # NFULNL_MSG_CONFIG, REQUEST|ACK
    err = struct.unpack_from('=i', s.recv(4096), 16)[0]
    if err:
        sys.stderr.write('nflog: %s\n' % os.strerror(-err)); sys.exit(1)
config(attr(1, b'\x01'))                                # NFULA_CFG_CMD: bind
config(attr(2, struct.pack('!IBB', snaplen, 2, 0)))     # NFULA_CFG_MODE: copy the packet, snaplen bytes
out = sys.stdout
out.write('ready\n'); out.flush()
while True:
    try:
        data = s.recv(65536)
    except OSError as e:
        out.write('lost\n' if e.errno == 105 else 'error %d\n' % e.errno); out.flush(); continue
    out.write(data.hex() + '\n'); out.flush()
`;

export interface LoggedPacket {
  /** The `log prefix` of the rule that logged it. */
  readonly prefix: string;
  readonly family: Family;
  readonly protocol: string;
  readonly src: string;
  readonly dst: string;
  /** Ports for TCP, UDP and SCTP; null for other protocols. */
  readonly sport: number | null;
  readonly dport: number | null;
}

const NFULNL_MSG_PACKET = (4 << 8) | 0;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };

function ipv4(bytes: Buffer, at: number): string {
  return [...bytes.subarray(at, at + 4)].join('.');
}

function ipv6(bytes: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes.readUInt16BE(at + 2 * i).toString(16));
  // The longest run of two or more zero groups becomes "::", as RFC 5952 writes addresses.
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

/** The addresses, protocol and ports of an IP packet's first bytes; null when it is too short to tell. */
export function parseIpPacket(packet: Buffer): Omit<LoggedPacket, 'prefix'> | null {
  if (packet.length < 1) return null;
  const version = packet[0]! >> 4;
  let protocolNumber: number;
  let l4: number;
  let src: string;
  let dst: string;
  if (version === 4 && packet.length >= 20) {
    protocolNumber = packet[9]!;
    l4 = (packet[0]! & 0x0f) * 4;
    src = ipv4(packet, 12);
    dst = ipv4(packet, 16);
  } else if (version === 6 && packet.length >= 40) {
    // Extension headers are not followed: pods' TCP, UDP and SCTP come without them.
    protocolNumber = packet[6]!;
    l4 = 40;
    src = ipv6(packet, 8);
    dst = ipv6(packet, 24);
  } else {
    return null;
  }
  const protocol = PROTOCOLS[protocolNumber] ?? String(protocolNumber);
  const hasPorts = protocolNumber === 6 || protocolNumber === 17 || protocolNumber === 132;
  const portsThere = hasPorts && packet.length >= l4 + 4;
  return {
    family: version === 4 ? 'IPv4' : 'IPv6',
    protocol,
    src,
    dst,
    sport: portsThere ? packet.readUInt16BE(l4) : null,
    dport: portsThere ? packet.readUInt16BE(l4 + 2) : null,
  };
}

/** The logged packets in one netlink datagram (several messages may share one). */
export function parseNflogDatagram(datagram: Buffer): LoggedPacket[] {
  const packets: LoggedPacket[] = [];
  for (let at = 0; at + 16 <= datagram.length; ) {
    const length = datagram.readUInt32LE(at);
    if (length < 16 || at + length > datagram.length) break;
    if (datagram.readUInt16LE(at + 4) === NFULNL_MSG_PACKET) {
      let prefix = '';
      let payload: Buffer | null = null;
      // nlmsghdr (16 bytes), nfgenmsg (4), then attributes, each padded to 4 bytes.
      for (let a = at + 20; a + 4 <= at + length; ) {
        const attrLength = datagram.readUInt16LE(a);
        if (attrLength < 4 || a + attrLength > at + length) break;
        const type = datagram.readUInt16LE(a + 2) & 0x3fff;
        const value = datagram.subarray(a + 4, a + attrLength);
        if (type === NFULA_PREFIX) prefix = value.toString('latin1').replace(/\0.*$/s, '');
        if (type === NFULA_PAYLOAD) payload = value;
        a += (attrLength + 3) & ~3;
      }
      const parsed = payload ? parseIpPacket(payload) : null;
      if (parsed) packets.push({ prefix, ...parsed });
    }
    at += (length + 3) & ~3;
  }
  return packets;
}

export interface NflogSource {
  /** Resolves once the group is bound; rejects with the helper's error (e.g. no CAP_NET_ADMIN, no python3). */
  readonly ready: Promise<void>;
  /** Ends the helper. */
  stop(): void;
}

export interface NflogHandlers {
  packet(packet: LoggedPacket): void;
  /** The kernel dropped log messages (the socket's buffer was full). */
  lost(): void;
  /** The helper ended (it is restarted by the caller if wanted). */
  exited(reason: string): void;
}

/** Starts the helper for one group; `command` runs the interpreter (tests prefix `ip netns exec <ns>`). */
export function listenNflog(group: number, snaplen: number, handlers: NflogHandlers, command: readonly string[] = ['python3']): NflogSource {
  const [file, ...args] = command;
  const child: ResultPromise = execa(file!, [...args, '-u', '-c', NFLOG_HELPER, String(group), String(snaplen)], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: { stdout: false, stderr: true } });
  let bound: () => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    bound = resolve;
    failed = reject;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') bound();
    else if (line === 'lost') handlers.lost();
    else if (/^[0-9a-f]+$/.test(line)) for (const packet of parseNflogDatagram(Buffer.from(line, 'hex'))) handlers.packet(packet);
  });
  void child.then((result) => {
    const reason = `${String(result.stderr ?? '').trim() || result.shortMessage || 'exited'}`;
    failed(new Error(`NFLOG helper: ${reason}`));
    handlers.exited(reason);
  });
  return { ready, stop: () => void child.kill() };
}
