// A from-scratch computation of the engine's state with plain loops and no indexes: the oracle the
// property test holds the incremental engine to.
import { computePodAllow, policyPeerDefs } from '../../src/engine/allowset.js';
import type { PolicyEngine } from '../../src/engine/engine.js';
import { claimsIps } from '../../src/engine/ipowners.js';
import { compileBlock, contribution, isPodDependent, parseContribution, peerSetId, peerSetKey } from '../../src/engine/peerset.js';
import { NAMESPACE_NAME_LABEL } from '../../src/model/normalize.js';
import type { Namespace, NetworkPolicy, Pod } from '../../src/model/types.js';

export interface Snapshot {
  readonly local: Record<string, string>;
  readonly sets: Record<string, string>;
}

const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

function formatMembers(members: [string, { ips: readonly string[]; port: number | null }][]): string {
  return members
    .map(([k, v]) => `${k}=${v.ips.join(',')}|${v.port ?? ''}`)
    .sort()
    .join(' ');
}

export function referenceSnapshot(pods: readonly Pod[], namespaces: readonly Namespace[], policies: readonly NetworkPolicy[], node: string | null): Snapshot {
  const owner = (ip: string): string | undefined => {
    const claimants = pods.filter((p) => claimsIps(p) && p.ips.includes(ip));
    claimants.sort((a, b) => {
      const ra = a.phase === 'Running' ? 0 : 1;
      const rb = b.phase === 'Running' ? 0 : 1;
      return ra !== rb ? ra - rb : key(a) < key(b) ? -1 : 1;
    });
    return claimants[0] ? key(claimants[0]) : undefined;
  };
  const owned = (pod: Pod) => (claimsIps(pod) ? pod.ips.filter((ip) => owner(ip) === key(pod)) : []);
  const nsLabels = (name: string) => namespaces.find((n) => n.name === name)?.labels ?? { [NAMESPACE_NAME_LABEL]: name };
  const sets: Record<string, string> = {};
  for (const policy of policies) {
    for (const def of policyPeerDefs(policy)) {
      const id = peerSetId(peerSetKey(def));
      if (id in sets) continue;
      const block = def.kind === 'ipBlock' ? compileBlock(def.cidr, def.except) : null;
      const members: [string, { ips: readonly string[]; port: number | null }][] = [];
      if (isPodDependent(def)) {
        for (const pod of pods) {
          const value = contribution(def, block, pod, owned(pod), nsLabels(pod.namespace));
          if (value !== null) members.push([key(pod), parseContribution(value)]);
        }
      }
      sets[id] = formatMembers(members);
    }
  }
  const local: Record<string, string> = {};
  for (const pod of pods) {
    if (node !== null && pod.node !== node) continue;
    const inNamespace = policies.filter((p) => p.namespace === pod.namespace).sort((a, b) => (a.name < b.name ? -1 : 1));
    local[key(pod)] = JSON.stringify(computePodAllow(pod, owned(pod), inNamespace, (def) => peerSetId(peerSetKey(def))));
  }
  return { local, sets };
}

export function engineSnapshot(engine: PolicyEngine): Snapshot {
  const local: Record<string, string> = {};
  for (const [k, allow] of engine.localPods()) local[k] = JSON.stringify(allow);
  const sets: Record<string, string> = {};
  for (const id of engine.peerSetIds()) sets[id] = formatMembers([...engine.peerSet(id)!.members]);
  return { local, sets };
}

/** Keys whose values differ between two records (present in one only counts). */
export function differingKeys(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}
