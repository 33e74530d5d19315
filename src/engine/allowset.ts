// The engine's product for one pod: per direction, whether it is isolated and the rules that allow
// traffic, resolved to peer set references and concrete port ranges, the shape the nftables layer
// compiles. Pure functions of a pod and the policies that select it.
import type { Direction, NetworkPolicy, ObjectKey, Peer, Pod, PolicyRule, Protocol } from '../model/types.js';
import { objectKey } from '../model/types.js';
import { claimsIps } from './ipowners.js';
import type { NamedPort, PeerSetDef } from './peerset.js';
import { peerSetKey, resolveNamedPort } from './peerset.js';
import { selectorMatches } from './selector.js';

/** An inclusive port range of one protocol; "every port" is 0-65535. */
export interface PortRange {
  readonly protocol: Protocol;
  readonly from: number;
  readonly to: number;
}

export interface ResolvedRule {
  readonly policy: ObjectKey;
  /** Index of the rule in the policy's ingress or egress list, as written (dropped rules keep gaps). */
  readonly index: number;
  /** 'all' when the rule has no `from`/`to`; otherwise peer set ids (any of them matches). */
  readonly peers: 'all' | readonly string[];
  /** 'all' when the rule has no `ports`; otherwise numeric ranges (named ports resolved when possible). */
  readonly ports: 'all' | readonly PortRange[];
  /** Egress named ports: ids of tuple sets (address . protocol . port) that also allow traffic. */
  readonly namedPortSets: readonly string[];
}

export interface DirectionAllow {
  readonly isolated: boolean;
  /** Policies that select the pod for this direction (`namespace/name`). */
  readonly policies: readonly ObjectKey[];
  readonly rules: readonly ResolvedRule[];
}

export interface PodAllow {
  readonly pod: ObjectKey;
  /** Addresses the pod owns (what the dataplane dispatches on). */
  readonly ips: readonly string[];
  readonly ingress: DirectionAllow;
  readonly egress: DirectionAllow;
}

const NOT_ISOLATED: DirectionAllow = { isolated: false, policies: [], rules: [] };

export function policySelects(policy: NetworkPolicy, pod: Pod): boolean {
  return policy.namespace === pod.namespace && !pod.hostNetwork && selectorMatches(policy.podSelector, pod.labels);
}

// A peer's set definition and its key are derived once per peer (model objects are immutable): the
// engine resolves every rule of every selecting policy on each allow-set it computes, and a key holds
// the peer's whole value lists.
const peerDefs = new WeakMap<Peer, Map<string, PeerSetDef>>();
const peerSetKeys = new WeakMap<PeerSetDef, string>();

/** peerSetKey, remembered for the definitions peerDef hands out. */
export function cachedPeerSetKey(def: PeerSetDef): string {
  let key = peerSetKeys.get(def);
  if (key === undefined) peerSetKeys.set(def, (key = peerSetKey(def)));
  return key;
}

/** The set a peer refers to, optionally turned into a tuple set for a named port. */
export function peerDef(policy: NetworkPolicy, peer: Peer | null, port?: NamedPort): PeerSetDef {
  if (peer === null) return buildPeerDef(policy, peer, port);
  let byContext = peerDefs.get(peer);
  if (byContext === undefined) peerDefs.set(peer, (byContext = new Map()));
  // The namespace is part of the context: a peer with only a podSelector means "the policy's namespace".
  const context = JSON.stringify([policy.namespace, port?.name ?? null, port?.protocol ?? null]);
  let def = byContext.get(context);
  if (def === undefined) byContext.set(context, (def = buildPeerDef(policy, peer, port)));
  return def;
}

function buildPeerDef(policy: NetworkPolicy, peer: Peer | null, port?: NamedPort): PeerSetDef {
  const withPort = port ? { port } : {};
  if (peer === null) {
    if (!port) throw new Error('internal: an "every peer" set exists only for a named port');
    return { kind: 'all', port };
  }
  if (peer.kind === 'ipBlock') return { kind: 'ipBlock', cidr: peer.cidr, except: peer.except, ...withPort };
  const scope =
    peer.namespaceSelector === null
      ? ({ kind: 'name', name: policy.namespace } as const)
      : ({ kind: 'selector', selector: peer.namespaceSelector } as const);
  return { kind: 'pods', scope, podSelector: peer.podSelector, ...withPort };
}

function namedPorts(rule: PolicyRule): NamedPort[] {
  const out: NamedPort[] = [];
  for (const p of rule.ports ?? []) if (p.kind === 'named') out.push({ name: p.name, protocol: p.protocol });
  return out;
}

/** Every set a policy refers to; the engine keeps these alive while the policy exists. */
export function policyPeerDefs(policy: NetworkPolicy): PeerSetDef[] {
  const defs: PeerSetDef[] = [];
  for (const rule of policy.ingress ?? []) {
    for (const peer of rule.peers ?? []) defs.push(peerDef(policy, peer));
  }
  for (const rule of policy.egress ?? []) {
    for (const peer of rule.peers ?? []) defs.push(peerDef(policy, peer));
    for (const port of namedPorts(rule)) {
      if (rule.peers === null) defs.push(peerDef(policy, null, port));
      else for (const peer of rule.peers) defs.push(peerDef(policy, peer, port));
    }
  }
  return defs;
}

function resolveRule(
  policy: NetworkPolicy,
  direction: Direction,
  rule: PolicyRule,
  index: number,
  pod: Pod,
  idOf: (def: PeerSetDef) => string,
): ResolvedRule {
  const peers = rule.peers === null ? 'all' : rule.peers.map((peer) => idOf(peerDef(policy, peer)));
  if (rule.ports === null) return { policy: objectKey(policy.namespace, policy.name), index, peers, ports: 'all', namedPortSets: [] };
  const ports: PortRange[] = [];
  const namedPortSets: string[] = [];
  for (const p of rule.ports) {
    switch (p.kind) {
      case 'any':
        ports.push({ protocol: p.protocol, from: 0, to: 65535 });
        break;
      case 'number':
        ports.push({ protocol: p.protocol, from: p.port, to: p.endPort });
        break;
      case 'named': {
        const port = { name: p.name, protocol: p.protocol };
        if (direction === 'ingress') {
          // Ingress: the destination is this pod, so the name resolves against its own ports. A name it
          // does not have allows nothing (never "every port").
          const number = resolveNamedPort(pod, port);
          if (number !== null) ports.push({ protocol: p.protocol, from: number, to: number });
        } else if (rule.peers === null) {
          namedPortSets.push(idOf(peerDef(policy, null, port)));
        } else {
          for (const peer of rule.peers) namedPortSets.push(idOf(peerDef(policy, peer, port)));
        }
        break;
      }
    }
  }
  return { policy: objectKey(policy.namespace, policy.name), index, peers, ports, namedPortSets };
}

function directionAllow(
  direction: Direction,
  pod: Pod,
  policies: readonly NetworkPolicy[],
  idOf: (def: PeerSetDef) => string,
): DirectionAllow {
  const selecting = policies.filter((p) => p[direction] !== null && policySelects(p, pod));
  if (selecting.length === 0) return NOT_ISOLATED;
  const rules: ResolvedRule[] = [];
  for (const policy of selecting) {
    policy[direction]!.forEach((rule, index) => rules.push(resolveRule(policy, direction, rule, index, pod, idOf)));
  }
  return { isolated: true, policies: selecting.map((p) => objectKey(p.namespace, p.name)), rules };
}

/**
 * The allow-set of a pod. `policies` are the policies of the pod's namespace, sorted by name (the
 * order only fixes the order of rules in the result). hostNetwork and terminal pods are never isolated.
 */
export function computePodAllow(
  pod: Pod,
  ownedIps: readonly string[],
  policies: readonly NetworkPolicy[],
  idOf: (def: PeerSetDef) => string,
): PodAllow {
  const key = objectKey(pod.namespace, pod.name);
  // The pods that may own addresses are exactly the pods that can be isolated.
  if (!claimsIps(pod)) return { pod: key, ips: ownedIps, ingress: NOT_ISOLATED, egress: NOT_ISOLATED };
  return {
    pod: key,
    ips: ownedIps,
    ingress: directionAllow('ingress', pod, policies, idOf),
    egress: directionAllow('egress', pod, policies, idOf),
  };
}
