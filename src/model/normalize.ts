// From API objects (client-node's types) to the slim model: the API server's defaulting applied, and
// validation that rejects what the engine cannot understand with a reason and a path. Pure: no I/O.
import type {
  V1Container,
  V1LabelSelector,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1Pod,
} from '@kubernetes/client-node';
import { canonicalIp, cidrContainsCidr, cidrText, parseCidr } from './ip.js';
import {
  isProtocol,
  type ContainerPort,
  type LabelSelector,
  type Labels,
  type Namespace,
  type NetworkPolicy,
  type Peer,
  type Pod,
  type PodPhase,
  type PolicyPort,
  type PolicyRule,
  type Protocol,
  type SelectorRequirement,
} from './types.js';

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** One thing wrong with an object, located by a JSON-path-like path inside it. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

export class InvalidObjectError extends Error {
  constructor(
    readonly object: string,
    readonly problems: readonly Problem[],
  ) {
    super(`${object}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    this.name = 'InvalidObjectError';
  }
}

// A rule of NetworkPolicy's `ingress` or `egress` list. Ingress names its peers `from` on the wire (YAML,
// JSON) but `_from` in client-node's deserialized objects (what informers deliver); egress uses `to`.
type WireRule = { from?: V1NetworkPolicyPeer[]; _from?: V1NetworkPolicyPeer[]; to?: V1NetworkPolicyPeer[]; ports?: V1NetworkPolicyPort[] };

export interface NormalizedPolicy {
  readonly policy: NetworkPolicy;
  /** Rules left out because they were invalid. Leaving a rule out only ever narrows what is allowed. */
  readonly droppedRules: readonly Problem[];
}

const VALID_PHASES: ReadonlySet<string> = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

function copyLabels(labels: Record<string, string> | undefined): Labels {
  return labels ? { ...labels } : {};
}

function protocolOf(value: string | undefined, path: string, problems: Problem[]): Protocol {
  if (value === undefined || value === '') return 'TCP';
  if (isProtocol(value)) return value;
  problems.push({ path, message: `unsupported protocol "${value}" (want TCP, UDP or SCTP)` });
  return 'TCP';
}

/**
 * IANA_SVC_NAME as Kubernetes validates it: at most 15 characters of [a-z0-9-], at least one letter, no
 * leading, trailing or doubled hyphen.
 */
export function isValidPortName(name: string): boolean {
  return (
    name.length >= 1 &&
    name.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) &&
    !name.includes('--') &&
    /[a-z]/.test(name)
  );
}

// ---------------------------------------------------------------------------------------------- pods

function containerPorts(containers: readonly V1Container[] | undefined): ContainerPort[] {
  const ports: ContainerPort[] = [];
  for (const container of containers ?? []) {
    for (const p of container.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      if (!isProtocol(protocol) || !Number.isInteger(p.containerPort)) continue;
      ports.push(p.name ? { name: p.name, port: p.containerPort, protocol } : { port: p.containerPort, protocol });
    }
  }
  return ports;
}

export function normalizePod(pod: V1Pod): Pod {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  if (name === '') throw new InvalidObjectError('Pod', [{ path: 'metadata.name', message: 'missing' }]);
  const ipTexts = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  const ips: string[] = [];
  for (const text of ipTexts) {
    const ip = canonicalIp(text);
    if (ip !== null && !ips.includes(ip)) ips.push(ip);
  }
  const phase = pod.status?.phase;
  // Sidecars (init containers that keep running) serve ports too.
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  return {
    namespace,
    name,
    labels: copyLabels(pod.metadata?.labels),
    node: pod.spec?.nodeName ?? '',
    // slice(): exact length (an array grown by push keeps room for 17 entries; 100,000 pods, 14 MB).
    ips: ips.slice(),
    phase: phase !== undefined && VALID_PHASES.has(phase) ? (phase as PodPhase) : 'Pending',
    hostNetwork: pod.spec?.hostNetwork === true,
    ports: [...containerPorts(pod.spec?.containers), ...containerPorts(sidecars)],
  };
}

// ---------------------------------------------------------------------------------------- namespaces

export function normalizeNamespace(ns: V1Namespace): Namespace {
  const name = ns.metadata?.name ?? '';
  if (name === '') throw new InvalidObjectError('Namespace', [{ path: 'metadata.name', message: 'missing' }]);
  // The API server sets this label on every namespace and keeps it equal to the name.
  return { name, labels: { ...copyLabels(ns.metadata?.labels), [NAMESPACE_NAME_LABEL]: name } };
}

// ------------------------------------------------------------------------------------------ policies

function normalizeSelector(selector: V1LabelSelector | undefined, path: string, problems: Problem[]): LabelSelector {
  const matchLabels: Record<string, string> = {};
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    if (typeof value !== 'string') {
      problems.push({ path: `${path}.matchLabels.${key}`, message: 'label value must be a string' });
      continue;
    }
    matchLabels[key] = value;
  }
  const matchExpressions: SelectorRequirement[] = [];
  (selector?.matchExpressions ?? []).forEach((expr, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const values = expr.values ?? [];
    if (!expr.key) problems.push({ path: `${at}.key`, message: 'missing' });
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) problems.push({ path: `${at}.values`, message: `operator ${expr.operator} needs at least one value` });
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) problems.push({ path: `${at}.values`, message: `operator ${expr.operator} takes no values` });
        break;
      default:
        problems.push({ path: `${at}.operator`, message: `unknown operator "${String(expr.operator)}" (want In, NotIn, Exists or DoesNotExist)` });
        return;
    }
    matchExpressions.push({ key: expr.key, operator: expr.operator, values: [...values] });
  });
  return { matchLabels, matchExpressions };
}

function normalizePeer(peer: V1NetworkPolicyPeer, path: string, problems: Problem[]): Peer | null {
  const hasSelectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (peer.ipBlock !== undefined) {
    if (hasSelectors) {
      problems.push({ path, message: 'ipBlock may not be combined with podSelector or namespaceSelector' });
      return null;
    }
    const cidr = parseCidr(peer.ipBlock.cidr ?? '');
    if (cidr === null) {
      problems.push({ path: `${path}.ipBlock.cidr`, message: `"${peer.ipBlock.cidr}" is not a valid CIDR` });
      return null;
    }
    const except: string[] = [];
    for (const [i, text] of (peer.ipBlock.except ?? []).entries()) {
      const inner = parseCidr(text);
      if (inner === null) {
        problems.push({ path: `${path}.ipBlock.except[${i}]`, message: `"${text}" is not a valid CIDR` });
        return null;
      }
      if (!cidrContainsCidr(cidr, inner) || inner.prefix === cidr.prefix) {
        problems.push({ path: `${path}.ipBlock.except[${i}]`, message: `"${text}" must be a strict subset of ${cidrText(cidr)}` });
        return null;
      }
      except.push(cidrText(inner));
    }
    return { kind: 'ipBlock', cidr: cidrText(cidr), except };
  }
  if (!hasSelectors) {
    problems.push({ path, message: 'a peer must set podSelector, namespaceSelector or ipBlock' });
    return null;
  }
  const before = problems.length;
  const namespaceSelector = peer.namespaceSelector === undefined ? null : normalizeSelector(peer.namespaceSelector, `${path}.namespaceSelector`, problems);
  const podSelector = normalizeSelector(peer.podSelector, `${path}.podSelector`, problems);
  return problems.length === before ? { kind: 'pods', namespaceSelector, podSelector } : null;
}

function normalizePort(port: V1NetworkPolicyPort, path: string, problems: Problem[]): PolicyPort | null {
  const before = problems.length;
  const protocol = protocolOf(port.protocol, `${path}.protocol`, problems);
  const value: unknown = port.port;
  const endPort = port.endPort;
  let result: PolicyPort | null = null;
  if (value === undefined || value === null) {
    if (endPort !== undefined) problems.push({ path: `${path}.endPort`, message: 'endPort needs port' });
    result = { kind: 'any', protocol };
  } else if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1 || number > 65535) {
      problems.push({ path: `${path}.port`, message: `${String(value)} is not a port number (1-65535)` });
    } else if (endPort !== undefined && (!Number.isInteger(endPort) || endPort < number || endPort > 65535)) {
      problems.push({ path: `${path}.endPort`, message: `endPort ${endPort} must be an integer from port (${number}) to 65535` });
    } else {
      result = { kind: 'number', protocol, port: number, endPort: endPort ?? number };
    }
  } else if (typeof value === 'string') {
    if (!isValidPortName(value)) {
      problems.push({ path: `${path}.port`, message: `"${value}" is not a valid port name (IANA_SVC_NAME: 1-15 of a-z, 0-9, '-', one letter at least)` });
    } else if (endPort !== undefined) {
      problems.push({ path: `${path}.endPort`, message: 'endPort may not be used with a named port' });
    } else {
      result = { kind: 'named', protocol, name: value };
    }
  } else {
    problems.push({ path: `${path}.port`, message: 'port must be a number or a name' });
  }
  return problems.length === before ? result : null;
}

function normalizeRule(rule: WireRule, peersField: 'from' | 'to', path: string, problems: Problem[]): PolicyRule | null {
  const before = problems.length;
  const wirePeers = (peersField === 'from' ? (rule._from ?? rule.from) : rule.to) ?? [];
  const peers: Peer[] = [];
  wirePeers.forEach((p, i) => {
    const peer = normalizePeer(p, `${path}.${peersField}[${i}]`, problems);
    if (peer) peers.push(peer);
  });
  const ports: PolicyPort[] = [];
  (rule.ports ?? []).forEach((p, i) => {
    const port = normalizePort(p, `${path}.ports[${i}]`, problems);
    if (port) ports.push(port);
  });
  if (problems.length !== before) return null;
  return { peers: wirePeers.length === 0 ? null : peers, ports: ports.length === 0 ? null : ports };
}

function normalizeRules(rules: WireRule[] | undefined, peersField: 'from' | 'to', path: string, dropped: Problem[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  (rules ?? []).forEach((rule, i) => {
    const problems: Problem[] = [];
    const normalized = normalizeRule(rule, peersField, `${path}[${i}]`, problems);
    // An invalid rule is left out whole: dropping only its bad port or peer could turn "these ports"
    // into "all ports" or "these peers" into "every peer", which would widen access.
    if (normalized) out.push(normalized);
    else dropped.push(...problems);
  });
  return out;
}

/**
 * Applies the API server's defaults and validates. Throws InvalidObjectError when the policy cannot be
 * used at all (which pods it selects or which directions it isolates is unknown); otherwise returns the
 * policy with any invalid rules left out and reported.
 */
export function normalizePolicy(np: V1NetworkPolicy): NormalizedPolicy {
  const namespace = np.metadata?.namespace ?? 'default';
  const name = np.metadata?.name ?? '';
  const fatal: Problem[] = [];
  if (name === '') fatal.push({ path: 'metadata.name', message: 'missing' });
  const spec = np.spec;
  if (spec === undefined || spec === null) fatal.push({ path: 'spec', message: 'missing' });
  const podSelector = normalizeSelector(spec?.podSelector, 'spec.podSelector', fatal);
  const ingressRules = spec?.ingress as WireRule[] | undefined;
  const egressRules = spec?.egress as WireRule[] | undefined;
  // Defaulting (pkg/apis/networking/v1/defaults.go): Ingress always, Egress when egress rules exist.
  let types = spec?.policyTypes;
  if (types === undefined || types.length === 0) {
    types = egressRules !== undefined && egressRules.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  }
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') fatal.push({ path: `spec.policyTypes[${i}]`, message: `unknown policy type "${t}" (want Ingress or Egress)` });
  });
  if (fatal.length > 0) throw new InvalidObjectError(`NetworkPolicy ${namespace}/${name}`, fatal);
  const dropped: Problem[] = [];
  const policy: NetworkPolicy = {
    namespace,
    name,
    podSelector,
    ingress: types.includes('Ingress') ? normalizeRules(ingressRules, 'from', 'spec.ingress', dropped) : null,
    egress: types.includes('Egress') ? normalizeRules(egressRules, 'to', 'spec.egress', dropped) : null,
  };
  return { policy, droppedRules: dropped };
}
