// The nftables side of the denied-connection log (`--deny-log`): the first packet of a denied connection
// (`ct state new`) jumps from its policy chain to a per-direction log chain, where one node-wide token
// bucket (a named limit) decides between `log group N` (to the agent, over NFLOG) and a counter of what
// the limit suppressed. One bucket for both directions bounds the agent's work per node, whatever floods.
import type { Direction } from '../model/types.js';
import { rule, type Declaration, type Rule } from './operations.js';
import { DENY_LOG_LIMIT, DENY_LOG_PREFIX, denyLogChainName, DIRECTIONS, suppressedCounterName } from './vocabulary.js';

import { writeDeclarations } from './write.js';

export { DENY_LOG_PREFIX } from './vocabulary.js';

export interface DenyLogOptions {
  /** The NFLOG group the agent listens on (per network namespace; 0-65535). */
  readonly group: number;
  /** Log at most this many denied connections per second per node; the rest are counted. */
  readonly ratePerSecond: number;
}

/** How many bytes of each logged packet reach the agent: IPv6 and TCP headers fit, payload never does. */
export const DENY_LOG_SNAPLEN = 128;
/** The named counter of denied connections the limit kept out of the log, per direction. */
export const suppressedCounter = suppressedCounterName;

/** The rule a policy chain runs before its deny: only a connection's first packet, never its retransmits' replies. */
export function denyLogJump(direction: Direction): Rule {
  return rule(`ct state new jump ${denyLogChainName(direction)}`, { chains: [denyLogChainName(direction)] });
}

/** The limit, counters and log chains, declared in nftpol's table. */
export function denyLogDeclarations(options: DenyLogOptions): Declaration[] {
  const rate = Math.max(1, Math.floor(options.ratePerSecond));
  const declarations: Declaration[] = [{ kind: 'limit', name: DENY_LOG_LIMIT, ratePerSecond: rate, burstPackets: rate }];
  for (const direction of DIRECTIONS) {
    const suppressed = suppressedCounter(direction);
    declarations.push({ kind: 'counter', name: suppressed }, {
      kind: 'chain',
      name: denyLogChainName(direction),
      // Under the limit: logged, and back to the policy chain, which denies. Over it: counted, and the
      // end of this chain returns to the policy chain too.
      rules: [
        rule(`limit name "${DENY_LOG_LIMIT}" log prefix "${DENY_LOG_PREFIX[direction]}" group ${options.group} snaplen ${DENY_LOG_SNAPLEN} return`, { limits: [DENY_LOG_LIMIT] }),
        rule(`counter name "${suppressed}"`, { counters: [suppressed] }),
      ],
    });
  }
  return declarations;
}

/** The same, as lines inside `table inet <name> { ... }`. */
export function denyLogObjects(options: DenyLogOptions): string[] {
  return writeDeclarations(denyLogDeclarations(options));
}
