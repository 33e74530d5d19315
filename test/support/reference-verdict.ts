// The reference semantics at packet level, computed from scratch with plain loops over the cluster's
// objects (as reference.ts does for allow-sets): would one node's nftpol let a new connection's first
// packet from one address to another through? The allow-sets come from the engine's pure
// computePodAllow, set membership from the pure contribution/blockContainsIp; no engine state, no index,
// nothing of src/nft.
import { computePodAllow, policyPeerDefs } from '../../src/engine/allowset.js';
import type { PodAllow, ResolvedRule } from '../../src/engine/allowset.js';
import { claimsIps } from '../../src/engine/ipowners.js';
import { blockContainsIp, compileBlock, contribution, isPodDependent, parseContribution, peerSetId, peerSetKey, type PeerSetDef } from '../../src/engine/peerset.js';
import { NAMESPACE_NAME_LABEL } from '../../src/model/normalize.js';
import type { Direction, Namespace, NetworkPolicy, Pod, Protocol } from '../../src/model/types.js';

const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export class ReferenceNode {
  private readonly owners = new Map<string, Pod>();
  private readonly defs = new Map<string, PeerSetDef>();
  private readonly local = new Map<string, PodAllow>();
  private readonly memo = new Map<string, boolean>();

  constructor(
    private readonly pods: readonly Pod[],
    private readonly namespaces: readonly Namespace[],
    policies: readonly NetworkPolicy[],
    node: string,
  ) {
    // An address belongs to the Running claimant first, then the smallest namespace/name (ipowners.ts).
    for (const pod of pods) {
      if (!claimsIps(pod)) continue;
      for (const ip of pod.ips) {
        const other = this.owners.get(ip);
        const better = other === undefined || ((pod.phase === 'Running') !== (other.phase === 'Running') ? pod.phase === 'Running' : key(pod) < key(other));
        if (better) this.owners.set(ip, pod);
      }
    }
    for (const policy of policies) for (const def of policyPeerDefs(policy)) this.defs.set(peerSetId(peerSetKey(def)), def);
    for (const pod of pods) {
      if (pod.node !== node) continue;
      const inNamespace = policies.filter((p) => p.namespace === pod.namespace).sort((a, b) => (a.name < b.name ? -1 : 1));
      this.local.set(key(pod), computePodAllow(pod, this.owned(pod), inNamespace, (def) => peerSetId(peerSetKey(def))));
    }
  }

  private owned(pod: Pod): string[] {
    return claimsIps(pod) ? pod.ips.filter((ip) => this.owners.get(ip) === pod) : [];
  }

  private nsLabels(name: string) {
    return this.namespaces.find((n) => n.name === name)?.labels ?? { [NAMESPACE_NAME_LABEL]: name };
  }

  /** Is the address (with the protocol and port, for a named-port set) in the set? */
  private inSet(id: string, ip: string, protocol: Protocol, port: number): boolean {
    const memoKey = `${id}|${ip}|${protocol}|${port}`;
    const known = this.memo.get(memoKey);
    if (known !== undefined) return known;
    const def = this.defs.get(id);
    if (def === undefined) throw new Error(`reference: unknown set ${id}`);
    const block = def.kind === 'ipBlock' ? compileBlock(def.cidr, def.except) : null;
    let result: boolean;
    if (!isPodDependent(def)) {
      result = blockContainsIp(block!, ip);
    } else {
      const pod = this.owners.get(ip);
      const value = pod === undefined ? null : contribution(def, block, pod, this.owned(pod), this.nsLabels(pod.namespace));
      const member = value === null ? null : parseContribution(value);
      result = member !== null && member.ips.includes(ip) && (def.port === undefined || (def.port.protocol === protocol && member.port === port));
    }
    this.memo.set(memoKey, result);
    return result;
  }

  private ruleAllows(rule: ResolvedRule, peer: string, protocol: Protocol, port: number): boolean {
    const peerOk = rule.peers === 'all' || rule.peers.some((id) => this.inSet(id, peer, protocol, port));
    const portOk = rule.ports === 'all' || rule.ports.some((r) => r.protocol === protocol && port >= r.from && port <= r.to);
    return (peerOk && portOk) || rule.namedPortSets.some((id) => this.inSet(id, peer, protocol, port));
  }

  /** One side's check: the local pod that owns `own`, isolated in `direction`, must allow `peer`. */
  private sideAllows(direction: Direction, own: string, peer: string, protocol: Protocol, port: number): boolean {
    const pod = this.owners.get(own);
    const allow = pod === undefined ? undefined : this.local.get(key(pod));
    if (allow === undefined || !allow[direction].isolated) return true;
    return allow[direction].rules.some((rule) => this.ruleAllows(rule, peer, protocol, port));
  }

  /**
   * The verdict for a new connection's first packet on this node: an address may always reach itself;
   * otherwise the source's egress (when a local pod owns it) and the destination's ingress (likewise)
   * must both allow it. A destination that is the node itself has no ingress side.
   */
  allows(src: string, dst: string, protocol: Protocol, port: number): boolean {
    if (src === dst) return true;
    return this.sideAllows('egress', src, dst, protocol, port) && this.sideAllows('ingress', dst, src, protocol, port);
  }
}
