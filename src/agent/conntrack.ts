// The node's connection tracking table, read and trimmed with the `conntrack` tool (Debian's conntrack
// package; netlink underneath, CAP_NET_ADMIN). Used by strict mode to mark connections that a policy
// change denies, which the table then ends (../nft/strict.ts).
import { execa } from 'execa';
import type { Family } from '../model/types.js';

export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

export interface ConntrackEntry {
  readonly family: Family;
  /** tcp, udp or sctp (other protocols are not listed: they have no ports to decide on). */
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** As the first packet was sent (before any DNAT). */
  readonly original: ConntrackTuple;
  /** As the answer comes back: its source is the real destination after DNAT (a Service's pod). */
  readonly reply: ConntrackTuple;
  /** The connection's conntrack mark. */
  readonly mark: number;
}

/**
 * One line of `conntrack -L`, e.g. `tcp 6 431999 ESTABLISHED src=10.244.0.10 dst=10.96.0.1 sport=40000
 * dport=80 src=10.244.1.10 dst=10.244.0.10 sport=8080 dport=40000 [ASSURED] mark=0 use=1`; null for
 * other protocols and lines it cannot read.
 */
export function parseConntrackLine(line: string): ConntrackEntry | null {
  const protocol = /^\s*(tcp|udp|sctp)\s/.exec(line)?.[1] as ConntrackEntry['protocol'] | undefined;
  if (!protocol) return null;
  const fields = (name: string) => [...line.matchAll(new RegExp(`\\b${name}=(\\S+)`, 'g'))].map((m) => m[1]!);
  const [src, dst, sport, dport] = [fields('src'), fields('dst'), fields('sport'), fields('dport')];
  if (src.length < 2 || dst.length < 2 || sport.length < 2 || dport.length < 2) return null;
  const tuple = (i: number): ConntrackTuple => ({ src: src[i]!, dst: dst[i]!, sport: Number(sport[i]), dport: Number(dport[i]) });
  const mark = Number(fields('mark')[0] ?? 0);
  return { family: src[0]!.includes(':') ? 'IPv6' : 'IPv4', protocol, original: tuple(0), reply: tuple(1), mark: Number.isFinite(mark) ? mark : 0 };
}

export interface Conntrack {
  /** Every tracked TCP, UDP and SCTP connection of both families. */
  list(): Promise<ConntrackEntry[]>;
  /** Sets `bit` in the mark of each entry (found by its original tuple), keeping its other bits; how many it changed. */
  setMark(entries: readonly ConntrackEntry[], bit: number): Promise<number>;
  /** Deletes the entries (by their original tuple); how many it deleted. */
  remove(entries: readonly ConntrackEntry[]): Promise<number>;
}

/** The conntrack tool; `prefix` runs it through something (e.g. `ip netns exec <ns>` in tests). */
export function conntrackCommand(binary = 'conntrack', prefix: readonly string[] = []): Conntrack {
  const run = async (args: string[]) => {
    const [file, ...rest] = [...prefix, binary, ...args];
    return execa(file!, rest, { reject: false, stdin: 'ignore' });
  };
  /**
   * One process per entry: the tool selects by filter, and a sync that narrows access affects the
   * connections of a few pods. A few run at once, so that a large batch stays within strict mode's second.
   */
  const forEach = async (entries: readonly ConntrackEntry[], command: string[], extra: string[]): Promise<number> => {
    let done = 0;
    const queue = [...entries];
    const worker = async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        const o = e.original;
        const result = await run([...command, '-f', e.family === 'IPv6' ? 'ipv6' : 'ipv4', '-p', e.protocol, '-s', o.src, '-d', o.dst, '--sport', String(o.sport), '--dport', String(o.dport), ...extra]);
        // Exit 1 with "0 flow entries" when the connection ended meanwhile: nothing to do.
        if (result.exitCode === 0) done++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
    return done;
  };
  return {
    async list() {
      const entries: ConntrackEntry[] = [];
      for (const family of ['ipv4', 'ipv6']) {
        const result = await run(['-L', '-f', family]);
        if (result.exitCode !== 0) throw new Error(`conntrack -L -f ${family} failed: ${String(result.stderr).trim() || result.shortMessage}`);
        for (const line of String(result.stdout).split('\n')) {
          const entry = parseConntrackLine(line);
          if (entry) entries.push(entry);
        }
      }
      return entries;
    },
    setMark(entries, bit) {
      // In update mode MARK/MASK zeroes the mask's bits and XORs MARK in: bit/bit sets just that bit.
      return forEach(entries, ['-U'], ['--mark', `0x${bit.toString(16)}/0x${bit.toString(16)}`]);
    },
    remove(entries) {
      return forEach(entries, ['-D'], []);
    },
  };
}
