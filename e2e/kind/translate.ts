// A scenario (../shared/scenarios/FORMAT.md) as objects for a real cluster (kind), and back. Pure: no I/O,
// so that it is unit-tested on machines without Docker (test/kind-translate.test.ts).
// - Pods run agnhost, one container per served port, as the upstream netpol suite runs them; they are
//   pinned to nodes by spec.nodeName (scenario node i = the i-th worker, then the control plane).
// - Each pod gets a ClusterIP Service without selector and an EndpointSlice naming the pod's address:
//   no label is added to the scenario's pods, which policies could select.
// - The cluster chooses addresses, not the scenario: ipBlock CIDRs that name a scenario pod (/32, /128)
//   or a scenario node's pod CIDR are rewritten to the real ones; other CIDRs stay as written.
import type { DiscoveryV1EndpointPort, V1Pod, V1Service } from '@kubernetes/client-node';
import { cidrContainsIp, familyOf, parseCidr } from '../../src/model/ip.js';
import type { Labels } from '../../src/model/types.js';
import { nodePodCidr, type Scenario, type ScenarioPod, type ScenarioPort } from '../../src/scenario/format.js';

export const DEFAULT_AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
/** Marks everything the kind runner creates, for cleanup. */
export const MANAGED_BY = 'nftpol-e2e-kind';

/** The real cluster's side of the mapping: each scenario node's Kubernetes node, and its pod CIDRs. */
export interface ClusterNodes {
  readonly names: readonly string[];
  readonly podCidrs: readonly (readonly string[])[];
}

/** Scenario node index -> a node of the cluster: workers first (sorted), then the control plane. */
export function assignNodes(nodes: readonly { name: string; controlPlane: boolean; podCidrs: string[] }[], wanted: number): ClusterNodes {
  const ordered = [...nodes].sort((a, b) => Number(a.controlPlane) - Number(b.controlPlane) || a.name.localeCompare(b.name));
  if (ordered.length < wanted) throw new Error(`the scenario needs ${wanted} nodes; the cluster has ${ordered.length}`);
  const chosen = ordered.slice(0, wanted);
  return { names: chosen.map((n) => n.name), podCidrs: chosen.map((n) => n.podCidrs) };
}

function containerName(port: ScenarioPort): string {
  return `cont-${port.port}-${port.protocol.toLowerCase()}`;
}

function serveCommand(port: ScenarioPort): { command: string[]; env?: { name: string; value: string }[] } {
  if (port.protocol === 'SCTP') return { command: ['/agnhost', 'porter'], env: [{ name: `SERVE_SCTP_PORT_${port.port}`, value: 'foo' }] };
  return { command: ['/agnhost', 'serve-hostname', port.protocol === 'TCP' ? '--tcp' : '--udp', '--http=false', '--port', String(port.port)] };
}

export function podObject(pod: ScenarioPod, nodes: ClusterNodes, agnhost = DEFAULT_AGNHOST): V1Pod {
  const containers = pod.ports.map((port) => ({
    name: containerName(port),
    image: agnhost,
    imagePullPolicy: 'IfNotPresent',
    ...serveCommand(port),
    ports: [{ containerPort: port.port, protocol: port.protocol, ...(port.name ? { name: port.name } : {}) }],
  }));
  // Every pod probes the others with /agnhost connect, so even a pod that serves nothing runs agnhost.
  if (containers.length === 0) containers.push({ name: 'idle', image: agnhost, imagePullPolicy: 'IfNotPresent', command: ['/agnhost', 'pause'], ports: [] });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: pod.namespace, name: pod.name, labels: { ...pod.labels }, annotations: { 'app.kubernetes.io/managed-by': MANAGED_BY } },
    spec: {
      nodeName: nodes.names[pod.node],
      hostNetwork: pod.hostNetwork,
      terminationGracePeriodSeconds: 0,
      tolerations: [{ operator: 'Exists' }],
      containers,
    },
  };
}

function portName(port: ScenarioPort): string {
  return `p-${port.port}-${port.protocol.toLowerCase()}`;
}

/** The ClusterIP Service standing for one pod (no selector: its EndpointSlices come from endpointSlices()). */
export function serviceObject(pod: ScenarioPod, scenario: Scenario): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: pod.namespace, name: `svc-${pod.name}`, labels: { 'app.kubernetes.io/managed-by': MANAGED_BY } },
    spec: {
      ipFamilies: [...scenario.ipFamilies],
      ipFamilyPolicy: scenario.ipFamilies.length > 1 ? 'RequireDualStack' : 'SingleStack',
      ports: pod.ports.map((port) => ({ name: portName(port), port: port.port, targetPort: port.port, protocol: port.protocol })),
    },
  };
}

export interface EndpointSliceObject {
  readonly apiVersion: 'discovery.k8s.io/v1';
  readonly kind: 'EndpointSlice';
  readonly metadata: { namespace: string; name: string; labels: Record<string, string> };
  readonly addressType: 'IPv4' | 'IPv6';
  readonly endpoints: { addresses: string[]; conditions: { ready: boolean } }[];
  readonly ports: DiscoveryV1EndpointPort[];
}

/** One EndpointSlice per address family, pointing the pod's Service at the pod's real addresses. */
export function endpointSlices(pod: ScenarioPod, realIps: readonly string[]): EndpointSliceObject[] {
  return realIps.map((ip) => {
    const family = familyOf(ip) ?? 'IPv4';
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        namespace: pod.namespace,
        name: `svc-${pod.name}-${family === 'IPv4' ? 'v4' : 'v6'}`,
        labels: { 'kubernetes.io/service-name': `svc-${pod.name}`, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY },
      },
      addressType: family,
      endpoints: [{ addresses: [ip], conditions: { ready: true } }],
      ports: pod.ports.map((port) => ({ name: portName(port), port: port.port, protocol: port.protocol })),
    };
  });
}

/** Scenario CIDR (canonical text) -> real CIDR, for those that name a scenario pod or a scenario node's pod CIDR. */
export function cidrMapping(scenario: Scenario, realIps: ReadonlyMap<string, readonly string[]>, nodes: ClusterNodes): Map<string, string> {
  const mapping = new Map<string, string>();
  for (const pod of scenario.pods) {
    const real = realIps.get(pod.key) ?? [];
    for (const ip of pod.ips) {
      const target = real.find((r) => familyOf(r) === familyOf(ip));
      if (target) mapping.set(canonical(`${ip}/${familyOf(ip) === 'IPv4' ? 32 : 128}`), `${target}/${familyOf(target) === 'IPv4' ? 32 : 128}`);
    }
  }
  nodes.podCidrs.forEach((cidrs, node) => {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const real = cidrs.find((c) => familyOf(c.split('/')[0]!) === family);
      if (real) mapping.set(canonical(nodePodCidr(node, family)), real);
    }
  });
  return mapping;
}

function canonical(cidr: string): string {
  const parsed = parseCidr(cidr);
  return parsed ? `${parsed.address}/${parsed.prefix}` : cidr;
}

/** The scenario's pod range (FORMAT.md, "Addressing"): CIDRs inside it name scenario addresses. */
const POD_RANGES = [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/48')!];
/** Documentation addresses (RFC 5737, RFC 3849): a peer that matches no pod, where an empty list would match all. */
const NO_POD = { IPv4: '192.0.2.1/32', IPv6: '2001:db8::1/128' } as const;

function inPodRange(cidr: string): boolean {
  const parsed = parseCidr(cidr);
  return parsed !== null && POD_RANGES.some((range) => range.family === parsed.family && parsed.prefix >= range.prefix && cidrContainsIp(range, parsed.address));
}

/** A scenario pod's addresses in the scenario and on the cluster (same family order not required). */
export interface PodAddressPair {
  readonly scenario: readonly string[];
  readonly real: readonly string[];
}

/**
 * A NetworkPolicy with its ipBlock CIDRs rewritten through `mapping`; `unmapped` lists the CIDRs left as
 * written that overlap the scenario's pod range (on kind they may mean other addresses).
 *
 * With `pods`, a CIDR inside the pod range that `mapping` does not know (a sub-range such as an except
 * `10.244.1.128/25`, or the whole range) is instead rewritten by what it selects among the scenario's
 * pods: the real /32 (/128) of each pod whose scenario address it holds. A peer's `cidr` becomes one
 * peer per selected pod (its excepts applied first; a peer that matches no pod if none), an `except` the
 * selected pods inside the peer's CIDR. The probes, which only reach pods, see what the scenario meant.
 */
export function translatePolicy(
  policy: Record<string, unknown>,
  mapping: ReadonlyMap<string, string>,
  pods?: readonly PodAddressPair[],
): { policy: Record<string, unknown>; unmapped: string[] } {
  const unmapped: string[] = [];
  const rewrite = (cidr: string): string => {
    const real = mapping.get(canonical(cidr));
    if (real !== undefined) return real;
    if (/^10\.244\./.test(cidr) || /^fd00:10:244:/i.test(cidr)) unmapped.push(cidr);
    return cidr;
  };
  const expandable = (cidr: string) => pods !== undefined && !mapping.has(canonical(cidr)) && inPodRange(cidr);
  /** Real host CIDRs of the pods whose scenario address is in `cidr` and in none of `except`. */
  const selected = (cidr: string, except: readonly string[] = []): string[] => {
    const block = parseCidr(cidr)!;
    const excluded = except.map((e) => parseCidr(e)).filter((e) => e !== null);
    const out: string[] = [];
    for (const pod of pods ?? []) {
      for (const ip of pod.scenario) {
        if (!cidrContainsIp(block, ip) || excluded.some((e) => cidrContainsIp(e, ip))) continue;
        const real = pod.real.find((r) => familyOf(r) === familyOf(ip));
        if (real) out.push(`${real}/${familyOf(real) === 'IPv4' ? 32 : 128}`);
      }
    }
    return out;
  };
  const copy = JSON.parse(JSON.stringify(policy)) as { spec?: { ingress?: Rule[]; egress?: Rule[] } };
  type Rule = { from?: Peer[]; to?: Peer[] };
  type Peer = { ipBlock?: { cidr: string; except?: string[] } };
  const translatePeers = (peers: Peer[]): Peer[] =>
    peers.flatMap((peer): Peer[] => {
      if (!peer.ipBlock) return [peer];
      const { cidr, except } = peer.ipBlock;
      if (expandable(cidr)) {
        const hosts = selected(cidr, except);
        const family = parseCidr(cidr)!.family;
        return hosts.length > 0 ? hosts.map((host) => ({ ipBlock: { cidr: host } })) : [{ ipBlock: { cidr: NO_POD[family] } }];
      }
      const realCidr = rewrite(cidr);
      if (!except) return [{ ipBlock: { cidr: realCidr } }];
      const outer = parseCidr(realCidr);
      const realExcept = except.flatMap((e) =>
        expandable(e) ? selected(e).filter((host) => outer !== null && cidrContainsIp(outer, host.split('/')[0]!)) : [rewrite(e)],
      );
      return [{ ipBlock: realExcept.length > 0 ? { cidr: realCidr, except: realExcept } : { cidr: realCidr } }];
    });
  for (const rule of [...(copy.spec?.ingress ?? []), ...(copy.spec?.egress ?? [])]) {
    if (rule.from) rule.from = translatePeers(rule.from);
    if (rule.to) rule.to = translatePeers(rule.to);
  }
  return { policy: copy as Record<string, unknown>, unmapped };
}

/** `kubectl label` arguments that turn one label set into another (`k=v` to set, `k-` to remove). */
export function labelArgs(from: Labels, to: Labels, keep: readonly string[] = []): string[] {
  const set = Object.entries(to)
    .filter(([k, v]) => from[k] !== v)
    .map(([k, v]) => `${k}=${v}`);
  const removed = Object.keys(from)
    .filter((k) => !(k in to) && !keep.includes(k))
    .map((k) => `${k}-`);
  return [...set, ...removed];
}

/** Addresses of the scenario's pods from `kubectl get pods -A -o json`. */
export function podAddresses(list: { items: V1Pod[] }, scenario: Scenario): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of list.items) {
    const key = `${item.metadata?.namespace}/${item.metadata?.name}`;
    if (!scenario.pods.some((p) => p.key === key)) continue;
    const ips = (item.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => typeof ip === 'string');
    out.set(key, ips);
  }
  return out;
}
