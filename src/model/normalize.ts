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
import { labelKeyProblem, labelValueProblem, quoted } from './labels.js';
import { Interner } from './intern.js';
import { ValueSet } from './values.js';
import { DEFAULT_POLICY_LIMITS, POLICY_LIMIT_COUNTS, POLICY_LIMIT_FLAGS, POLICY_LIMIT_NAMES, type PolicyLimit, type PolicyLimits } from './limits.js';
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
  /** Set when the problem is a policy over one of its cost limits (model/limits.ts). */
  readonly limit?: PolicyLimit;
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
  /**
   * Rules left out because the policy is over a cost limit: one problem per direction, at the rule that
   * crossed the limit (that rule and every later one of its direction allow nothing).
   */
  readonly overLimit: readonly Problem[];
}

const VALID_PHASES: ReadonlySet<string> = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

/** A validated copy of an object's labels (own keys only), with a problem for each invalid one. */
function copyLabels(labels: Record<string, string> | undefined, path: string, problems: Problem[]): Labels {
  const before = problems.length;
  const entries = Object.entries(labels ?? {});
  for (const [key, value] of entries) {
    const problem = labelKeyProblem(key) ?? (typeof value === 'string' ? labelValueProblem(value) : `label ${quoted(key)}: the value must be a string`);
    if (problem !== null) problems.push({ path: `${path}[${quoted(key)}]`, message: problem });
  }
  // Spread defines own properties (never calls the __proto__ setter) and keeps V8's compact layout. With a
  // problem the caller rejects the object or leaves the rule out, so the copy is not used.
  return problems.length === before ? { ...labels } : {};
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

/**
 * The slim Pod. Throws InvalidObjectError when it has no name or invalid labels (the API server allows
 * neither). An address that is not a plain IPv4 or IPv6 address (a zone like `fe80::1%eth0`, a CIDR, a
 * name) is left out and reported in `addressProblems`: the pod is still enforced on its valid addresses,
 * and the bad one never reaches an nft transaction, where it would fail the whole node's update.
 */
export function normalizePod(pod: V1Pod, addressProblems: Problem[] = []): Pod {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const fatal: Problem[] = [];
  if (name === '') fatal.push({ path: 'metadata.name', message: 'missing' });
  const labels = copyLabels(pod.metadata?.labels, 'metadata.labels', fatal);
  if (fatal.length > 0) throw new InvalidObjectError(`Pod ${namespace}/${name}`, fatal);
  const podIPs = pod.status?.podIPs;
  const ipTexts: { text: unknown; path: string }[] = podIPs
    ? podIPs.map((p, i) => ({ text: p?.ip, path: `status.podIPs[${i}].ip` }))
    : pod.status?.podIP
      ? [{ text: pod.status.podIP, path: 'status.podIP' }]
      : [];
  const ips: string[] = [];
  for (const { text, path } of ipTexts) {
    const ip = typeof text === 'string' ? canonicalIp(text) : null;
    if (ip === null) addressProblems.push({ path, message: `${quoted(String(text))} is not an IPv4 or IPv6 address; the address is left out` });
    else if (!ips.includes(ip)) ips.push(ip);
  }
  const phase = pod.status?.phase;
  // Sidecars (init containers that keep running) serve ports too.
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  return {
    namespace,
    name,
    labels: sharedLabels(labels),
    node: pod.spec?.nodeName ?? '',
    // slice(): exact length (an array grown by push keeps room for 17 entries; 100,000 pods, 14 MB).
    ips: ips.slice(),
    phase: phase !== undefined && VALID_PHASES.has(phase) ? (phase as PodPhase) : 'Pending',
    hostNetwork: pod.spec?.hostNetwork === true,
    ports: portsOrShared([...containerPorts(pod.spec?.containers), ...containerPorts(sidecars)]),
  };
}

/** Pods of one workload share one copy of their labels and of their ports (see intern.ts). */
const podLabels = new Interner<Labels>();
const podPorts = new Interner<readonly ContainerPort[]>();

function sharedLabels(labels: Labels): Labels {
  return podLabels.intern(JSON.stringify(labels), labels);
}

function portsOrShared(ports: ContainerPort[]): readonly ContainerPort[] {
  for (const port of ports) Object.freeze(port);
  return podPorts.intern(JSON.stringify(ports), ports);
}

// ---------------------------------------------------------------------------------------- namespaces

export function normalizeNamespace(ns: V1Namespace): Namespace {
  const name = ns.metadata?.name ?? '';
  const fatal: Problem[] = [];
  if (name === '') fatal.push({ path: 'metadata.name', message: 'missing' });
  const labels = copyLabels(ns.metadata?.labels, 'metadata.labels', fatal);
  if (fatal.length > 0) throw new InvalidObjectError(`Namespace ${name}`, fatal);
  // The API server sets this label on every namespace and keeps it equal to the name.
  return { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } };
}

// ------------------------------------------------------------------------------------------ policies

function normalizeSelector(selector: V1LabelSelector | undefined, path: string, problems: Problem[]): LabelSelector {
  const matchLabels = copyLabels(selector?.matchLabels, `${path}.matchLabels`, problems);
  const matchExpressions: SelectorRequirement[] = [];
  (selector?.matchExpressions ?? []).forEach((expr, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const values: unknown[] = Array.isArray(expr.values) ? expr.values : [];
    if (!expr.key) problems.push({ path: `${at}.key`, message: 'missing' });
    else {
      const keyProblem = labelKeyProblem(expr.key);
      if (keyProblem !== null) problems.push({ path: `${at}.key`, message: keyProblem });
    }
    // Values are not checked against the label value syntax: the API server keeps invalid ones that older
    // versions stored (AllowInvalidLabelValueInSelector), and such a value simply matches no label.
    if (values.some((v) => typeof v !== 'string')) problems.push({ path: `${at}.values`, message: 'values must be strings' });
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
    matchExpressions.push({ key: expr.key, operator: expr.operator, values: new ValueSet(values as string[]) });
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

/** A valid rule and where it stands in the policy as written. */
interface IndexedRule {
  readonly index: number;
  readonly rule: PolicyRule;
}

function normalizeRules(rules: WireRule[] | undefined, peersField: 'from' | 'to', path: string, dropped: Problem[]): IndexedRule[] {
  const out: IndexedRule[] = [];
  (rules ?? []).forEach((rule, index) => {
    const problems: Problem[] = [];
    const normalized = normalizeRule(rule, peersField, `${path}[${index}]`, problems);
    // An invalid rule is left out whole: dropping only its bad port or peer could turn "these ports"
    // into "all ports" or "these peers" into "every peer", which would widen access.
    if (normalized) out.push({ index, rule: normalized });
    else dropped.push(...problems);
  });
  return out;
}

type Cost = Record<PolicyLimit, number>;

function selectorValueCount(selector: LabelSelector): number {
  let count = 0;
  for (const req of selector.matchExpressions) count += req.values.size;
  return count;
}

function ruleCost(rule: PolicyRule): Cost {
  const cost: Cost = { maxRules: 1, maxPeers: rule.peers?.length ?? 0, maxPorts: rule.ports?.length ?? 0, maxExcepts: 0, maxSelectorValues: 0 };
  for (const peer of rule.peers ?? []) {
    if (peer.kind === 'ipBlock') cost.maxExcepts += peer.except.length;
    else cost.maxSelectorValues += selectorValueCount(peer.podSelector) + (peer.namespaceSelector ? selectorValueCount(peer.namespaceSelector) : 0);
  }
  return cost;
}

/**
 * Keeps the rules of one direction while the policy's running cost stays within the limits. The rule
 * that would cross a limit and every later rule of the direction are left out (they allow nothing; the
 * policy still isolates its pods), and reported once. Rules left out cost nothing.
 */
function withinLimits(rules: readonly IndexedRule[], path: string, used: Cost, limits: PolicyLimits, overLimit: Problem[]): PolicyRule[] {
  const kept: PolicyRule[] = [];
  for (const [position, { index, rule }] of rules.entries()) {
    const cost = ruleCost(rule);
    const crossed = POLICY_LIMIT_NAMES.find((limit) => used[limit] + cost[limit] > limits[limit]);
    if (crossed !== undefined) {
      const left = rules.length - position;
      overLimit.push({
        path: `${path}[${index}]`,
        limit: crossed,
        message: `the policy has more than ${limits[crossed]} ${POLICY_LIMIT_COUNTS[crossed]} (${POLICY_LIMIT_FLAGS[crossed]}); this rule and the ${left - 1} after it are left out and allow nothing`,
      });
      break;
    }
    for (const limit of POLICY_LIMIT_NAMES) used[limit] += cost[limit];
    kept.push(rule);
  }
  return kept;
}

/**
 * Applies the API server's defaults and validates. Throws InvalidObjectError when the policy cannot be
 * used at all (which pods it selects or which directions it isolates is unknown); otherwise returns the
 * policy with any invalid rules left out and reported.
 */
export function normalizePolicy(np: V1NetworkPolicy, limits: PolicyLimits = DEFAULT_POLICY_LIMITS): NormalizedPolicy {
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
  const podSelectorValues = selectorValueCount(podSelector);
  if (podSelectorValues > limits.maxSelectorValues) {
    fatal.push({
      path: 'spec.podSelector',
      limit: 'maxSelectorValues',
      message: `${podSelectorValues} In/NotIn values, more than the ${limits.maxSelectorValues} a policy may have (${POLICY_LIMIT_FLAGS.maxSelectorValues})`,
    });
  }
  if (fatal.length > 0) throw new InvalidObjectError(`NetworkPolicy ${namespace}/${name}`, fatal);
  const dropped: Problem[] = [];
  const overLimit: Problem[] = [];
  const used: Cost = { maxRules: 0, maxPeers: 0, maxPorts: 0, maxExcepts: 0, maxSelectorValues: podSelectorValues };
  const rules = (wire: WireRule[] | undefined, field: 'from' | 'to', path: string) => withinLimits(normalizeRules(wire, field, path, dropped), path, used, limits, overLimit);
  const policy: NetworkPolicy = {
    namespace,
    name,
    podSelector,
    ingress: types.includes('Ingress') ? rules(ingressRules, 'from', 'spec.ingress') : null,
    egress: types.includes('Egress') ? rules(egressRules, 'to', 'spec.egress') : null,
  };
  return { policy, droppedRules: dropped, overLimit };
}
