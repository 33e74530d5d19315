// The nftables side of strict mode (`--strict-mode`): a connection that a policy change denies gets one
// bit of its conntrack mark set by the agent (../agent/strict.ts), and the base chains end every packet
// of such a connection, in both directions, before `ct state established,related accept` lets it pass.
// Deleting the conntrack entry instead is not enough: the next packet of the other side (a server's
// retransmission, an echo in flight) would be picked up as a new connection in the reverse direction,
// which the destination's policies may well allow, and the flow would go on.

/** The conntrack mark bit nftpol owns; other bits are left as they are (kube-proxy and CNIs use skb marks). */
export const STRICT_CT_MARK = 0x20000000;

const MARK = `0x${STRICT_CT_MARK.toString(16).padStart(8, '0')}`;

/**
 * The rules, first in `forward` and `input`: TCP gets a reset (both ends learn at their next packet, and
 * conntrack moves the entry to CLOSE), every other protocol is dropped until its entry times out.
 */
export function strictRules(): string[] {
  return [`ct mark and ${MARK} == ${MARK} meta l4proto tcp reject with tcp reset`, `ct mark and ${MARK} == ${MARK} drop`];
}
