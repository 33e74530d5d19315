// The verdict for one connection, with the reasons: which policies isolate each side and which rule
// allows it. It reads the same allow-sets and peer sets the dataplane compiles, so what `explain` says
// is what the kernel does.
import { familyOf } from '../model/ip.js';
import type { Family, ObjectKey, Pod, Protocol } from '../model/types.js';
import { objectKey } from '../model/types.js';
import type { DirectionAllow, ResolvedRule } from './allowset.js';
import type { PolicyEngine } from './engine.js';

/** One end of a connection: a pod (`namespace/name`) or a bare address outside the cluster's pods. */
export type Endpoint = { readonly pod: ObjectKey } | { readonly ip: string };

export interface RuleRef {
  readonly policy: ObjectKey;
  readonly index: number;
}

export interface SideVerdict {
  readonly allowed: boolean;
  readonly isolated: boolean;
  /** Policies selecting the pod for this direction. */
  readonly policies: readonly ObjectKey[];
  /** Rules that allow the connection (empty when denied or not isolated). */
  readonly allowedBy: readonly RuleRef[];
  /** Why, in words. */
  readonly reason: string;
}

export interface Verdict {
  readonly allowed: boolean;
  readonly srcIp: string | null;
  readonly dstIp: string | null;
  readonly egress: SideVerdict;
  readonly ingress: SideVerdict;
}

export interface ConnectionQuery {
  readonly src: Endpoint;
  readonly dst: Endpoint;
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: Family;
}

function open(reason: string): SideVerdict {
  return { allowed: true, isolated: false, policies: [], allowedBy: [], reason };
}

function addressOf(engine: PolicyEngine, endpoint: Endpoint, family: Family): { ip: string | null; pod: Pod | undefined } {
  if ('ip' in endpoint) return { ip: familyOf(endpoint.ip) === family ? endpoint.ip : null, pod: undefined };
  const pod = engine.pod(endpoint.pod);
  if (!pod) throw new Error(`unknown pod ${endpoint.pod}`);
  // hostNetwork pods use their node's address; other pods only the addresses they own.
  const ips = pod.hostNetwork ? pod.ips : engine.ownedIps(endpoint.pod);
  return { ip: ips.find((ip) => familyOf(ip) === family) ?? null, pod };
}

export function ruleMatches(engine: PolicyEngine, rule: ResolvedRule, peerIp: string, protocol: Protocol, port: number): boolean {
  const peerOk = rule.peers === 'all' || rule.peers.some((id) => engine.peerSetMatches(id, peerIp, protocol, port));
  const portOk = rule.ports === 'all' || rule.ports.some((r) => r.protocol === protocol && port >= r.from && port <= r.to);
  return (peerOk && portOk) || rule.namedPortSets.some((id) => engine.peerSetMatches(id, peerIp, protocol, port));
}

function judge(engine: PolicyEngine, allow: DirectionAllow, direction: string, peerIp: string, protocol: Protocol, port: number): SideVerdict {
  const allowedBy = allow.rules
    .filter((rule) => ruleMatches(engine, rule, peerIp, protocol, port))
    .map((rule) => ({ policy: rule.policy, index: rule.index }));
  const names = allow.policies.join(', ');
  return {
    allowed: allowedBy.length > 0,
    isolated: true,
    policies: allow.policies,
    allowedBy,
    reason:
      allowedBy.length > 0
        ? `allowed by ${allowedBy.map((r) => `${r.policy} ${direction}[${r.index}]`).join(', ')}`
        : `isolated for ${direction} by ${names}; no rule allows it`,
  };
}

function side(
  engine: PolicyEngine,
  pod: Pod | undefined,
  direction: 'ingress' | 'egress',
  peerIp: string,
  protocol: Protocol,
  port: number,
): SideVerdict {
  if (pod === undefined) return open(`not a pod: no ${direction} policy applies`);
  if (pod.hostNetwork) return open(`hostNetwork pod: never isolated (it is its node)`);
  const allow = engine.podAllow(objectKey(pod.namespace, pod.name))!;
  const d = allow[direction];
  if (!d.isolated) return open(`no policy selects it for ${direction}`);
  return judge(engine, d, direction, peerIp, protocol, port);
}

/** Would a new connection from `src` to `dst` on `port/protocol` over `family` be allowed, and why? */
export function decide(engine: PolicyEngine, query: ConnectionQuery): Verdict {
  const src = addressOf(engine, query.src, query.family);
  const dst = addressOf(engine, query.dst, query.family);
  if (src.ip === null || dst.ip === null) {
    const missing = src.ip === null ? 'source' : 'destination';
    const none: SideVerdict = { allowed: false, isolated: false, policies: [], allowedBy: [], reason: `the ${missing} has no ${query.family} address` };
    return { allowed: false, srcIp: src.ip, dstIp: dst.ip, egress: none, ingress: none };
  }
  const samePod = src.pod !== undefined && src.pod === dst.pod;
  if (samePod) {
    const self = open('a pod can always reach itself');
    return { allowed: true, srcIp: src.ip, dstIp: dst.ip, egress: self, ingress: self };
  }
  const egress = side(engine, src.pod, 'egress', dst.ip, query.protocol, query.port);
  // The pod's own node may always reach it (kubelet probes): a hostNetwork pod on the same node is that node.
  const fromOwnNode = src.pod?.hostNetwork === true && dst.pod !== undefined && src.pod.node !== '' && src.pod.node === dst.pod.node;
  const ingress = fromOwnNode
    ? open("from the pod's own node: always allowed")
    : side(engine, dst.pod, 'ingress', src.ip, query.protocol, query.port);
  return { allowed: egress.allowed && ingress.allowed, srcIp: src.ip, dstIp: dst.ip, egress, ingress };
}
