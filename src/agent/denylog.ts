// The denied-connection log: turns the packets the kernel logged (see ../nft/denylog.ts and nflog.ts) into
// one JSON line per denied connection attempt, naming both ends as `namespace/pod` (or the address) and
// the policies that isolate the denying side, the names `nftpol explain` prints. The kernel logs only a
// connection's first packet (`ct state new`), but a dropped SYN is retransmitted and each retransmission
// is "new" again: the 5-tuple is remembered for a while so that one attempt is one line.
import type { PolicyEngine } from '../engine/engine.js';
import { canonicalIp } from '../model/ip.js';
import type { Direction, ObjectKey } from '../model/types.js';
import { DENY_LOG_PREFIX } from '../nft/denylog.js';
import type { LoggedPacket } from './nflog.js';

/**
 * Retransmissions of one attempt are one line when they come within this long of the one before: TCP's
 * SYN retries back off 1, 2, 4, 8, 16, 32 s, so a 40 s window, renewed by each retransmission, covers
 * all of them; a new attempt uses a new source port and is a new line.
 */
export const DEDUPE_WINDOW_MS = 40_000;
/** At most this many remembered attempts; the kernel's rate limit keeps the real number far below. */
export const DEDUPE_MAX = 20_000;

/** One denied attempt; the log line's own `ts` is its time. */
export interface DeniedConnection {
  readonly direction: Direction;
  readonly src: string;
  readonly dst: string;
  readonly family: string;
  readonly protocol: string;
  readonly port: number | null;
  /** The policies isolating the denying side (the local pod) in `direction`, as `namespace/name`. */
  readonly policies: readonly ObjectKey[];
}

export interface DenyLogSink {
  /** One denied connection attempt (the agent writes it as a JSON log line). */
  denied(entry: DeniedConnection, namespace: string): void;
}

function directionOf(prefix: string): Direction | null {
  if (prefix === DENY_LOG_PREFIX.ingress) return 'ingress';
  if (prefix === DENY_LOG_PREFIX.egress) return 'egress';
  return null;
}

export class DenyLog {
  /** Attempt key -> when its last packet came; in the order of that time (oldest first). */
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly engine: PolicyEngine,
    private readonly sink: DenyLogSink,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many attempts are remembered (tests, and a bound check). */
  get remembered(): number {
    return this.recent.size;
  }

  handle(packet: LoggedPacket): void {
    const direction = directionOf(packet.prefix);
    if (direction === null) return; // another rule's log group: not ours
    const now = this.now();
    this.forgetBefore(now - DEDUPE_WINDOW_MS);
    const key = `${direction} ${packet.protocol} ${packet.src} ${packet.sport ?? ''} ${packet.dst} ${packet.dport ?? ''}`;
    const seen = this.recent.has(key);
    // Renewed (and moved to the end, keeping the map in time order) by every retransmission.
    this.recent.delete(key);
    this.recent.set(key, now);
    if (this.recent.size > DEDUPE_MAX) this.recent.delete(this.recent.keys().next().value!);
    if (seen) return;
    const local = this.owner(direction === 'ingress' ? packet.dst : packet.src);
    const policies = local === undefined ? [] : (this.engine.podAllow(local)?.[direction].policies ?? []);
    this.sink.denied(
      {
        direction,
        src: this.endpoint(packet.src),
        dst: this.endpoint(packet.dst),
        family: packet.family,
        protocol: packet.protocol,
        port: packet.dport,
        policies,
      },
      local === undefined ? '' : local.slice(0, local.indexOf('/')),
    );
  }

  private endpoint(ip: string): string {
    return this.owner(ip) ?? ip;
  }

  /** The pod owning an address, looked up by the canonical text the engine keys pods by. */
  private owner(ip: string): ObjectKey | undefined {
    return this.engine.ownerOf(canonicalIp(ip) ?? ip);
  }

  private forgetBefore(cutoff: number): void {
    for (const [key, at] of this.recent) {
      if (at >= cutoff) break;
      this.recent.delete(key);
    }
  }
}
