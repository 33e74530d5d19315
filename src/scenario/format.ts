// The scenario file format of ../shared/scenarios/FORMAT.md: parsing, validation and the fixed addressing
// (node i owns 10.244.i.0/24 and fd00:10:244:i::/64, node IP 172.18.0.(i+2) / fd00:172:18::(i+2)).
import { parse } from 'yaml';
import { cidrContainsIp, familyOf, parseCidr } from '../model/ip.js';
import { labelMap } from '../model/labels.js';
import { isProtocol, type Family, type Labels, type Protocol } from '../model/types.js';

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

export interface ScenarioPort {
  readonly port: number;
  readonly protocol: Protocol;
  readonly name?: string;
}

export interface ScenarioPod {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly labels: Labels;
  readonly node: number;
  /** One address per cluster family, in ipFamilies order. */
  readonly ips: readonly string[];
  readonly hostNetwork: boolean;
  readonly ports: readonly ScenarioPort[];
}

export interface Probe {
  readonly port: number;
  readonly protocol: Protocol;
  readonly via: 'pod' | 'service';
  readonly family: Family;
}

export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface Step {
  readonly name: string;
  readonly apply: readonly Record<string, unknown>[];
  readonly delete: readonly ObjectRef[];
  readonly probes: readonly Probe[];
  /** probe key -> source pod -> one character per destination; undefined when the step expects nothing. */
  readonly expect?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly nodes: number;
  readonly ipFamilies: readonly Family[];
  readonly namespaces: readonly { readonly name: string; readonly labels: Labels }[];
  readonly pods: readonly ScenarioPod[];
  readonly steps: readonly Step[];
}

export const DEFAULT_PORTS: readonly ScenarioPort[] = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'TCP' },
];

export function probeKey(probe: Probe): string {
  return `${probe.port}/${probe.protocol}${probe.via === 'service' ? '/service' : ''}${probe.family === 'IPv6' ? '/IPv6' : ''}`;
}

/** The address a probe goes to: the destination's pod address, or its Service's, in the probe's family. */
export function probeAddress(probe: Probe, podIps: readonly string[], serviceIps: readonly string[]): string | undefined {
  return (probe.via === 'service' ? serviceIps : podIps).find((ip) => familyOf(ip) === probe.family);
}

export function nodePodCidr(node: number, family: Family): string {
  return family === 'IPv4' ? `10.244.${node}.0/24` : `fd00:10:244:${node}::/64`;
}

export function nodeIp(node: number, family: Family): string {
  return family === 'IPv4' ? `172.18.0.${node + 2}` : `fd00:172:18::${node + 2}`;
}

function podIp(node: number, host: number, family: Family): string {
  return family === 'IPv4' ? `10.244.${node}.${host}` : `fd00:10:244:${node}::${host}`;
}

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function need<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new ScenarioError(`${what} is required`);
  return value;
}

function labelsOf(value: unknown, what: string): Labels {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new ScenarioError(`${what} must be a map of strings`);
  // labelMap: a key such as `__proto__` stays a key (and is then rejected as an invalid label key).
  return labelMap(Object.entries(value).map(([k, v]) => [k, String(v)] as const));
}

function protocolOf(value: unknown, what: string): Protocol {
  const text = value === undefined ? 'TCP' : String(value);
  if (!isProtocol(text)) throw new ScenarioError(`${what}: protocol must be TCP, UDP or SCTP, not ${text}`);
  return text;
}

function portOf(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ScenarioError(`${what}: port must be 1-65535`);
  return n;
}

function parsePods(raw: unknown[], nodes: number, families: readonly Family[]): ScenarioPod[] {
  const next = new Map<number, number>();
  const pods: ScenarioPod[] = [];
  const used = new Set<string>();
  raw.forEach((value, index) => {
    if (!isRecord(value)) throw new ScenarioError(`pods[${index}] must be a map`);
    const namespace = String(need(value.namespace, `pods[${index}].namespace`));
    const name = String(need(value.name, `pods[${index}].name`));
    const key = `${namespace}/${name}`;
    if (used.has(key)) throw new ScenarioError(`pod ${key} is listed twice`);
    used.add(key);
    const node = value.node === undefined ? index % nodes : Number(value.node);
    if (!Number.isInteger(node) || node < 0 || node >= nodes) throw new ScenarioError(`pod ${key}: node ${String(value.node)} is not one of 0..${nodes - 1}`);
    const hostNetwork = value.hostNetwork === true;
    let ips: string[];
    if (hostNetwork) {
      ips = families.map((f) => nodeIp(node, f));
    } else if (Array.isArray(value.ips)) {
      ips = families.map((family) => {
        const ip = (value.ips as unknown[]).map(String).find((candidate) => familyOf(candidate) === family);
        if (ip === undefined) throw new ScenarioError(`pod ${key}: no ${family} address in ips`);
        if (!cidrContainsIp(parseCidr(nodePodCidr(node, family))!, ip)) throw new ScenarioError(`pod ${key}: ${ip} is not in node ${node}'s pod CIDR ${nodePodCidr(node, family)}`);
        return ip;
      });
    } else {
      ips = [];
    }
    const ports = Array.isArray(value.ports)
      ? value.ports.map((p: unknown, i: number) => {
          if (!isRecord(p)) throw new ScenarioError(`pod ${key}: ports[${i}] must be a map`);
          const port = portOf(p.port, `pod ${key} ports[${i}]`);
          const protocol = protocolOf(p.protocol, `pod ${key} ports[${i}]`);
          return p.name === undefined ? { port, protocol } : { port, protocol, name: String(p.name) };
        })
      : DEFAULT_PORTS;
    pods.push({ namespace, name, key, labels: labelsOf(value.labels, `pod ${key} labels`), node, ips, hostNetwork, ports });
  });
  // Pods without addresses get them from their node's CIDR, from .10 up, skipping explicit ones.
  const taken = new Set(pods.flatMap((p) => p.ips));
  return pods.map((pod) => {
    if (pod.ips.length > 0) return pod;
    let host = next.get(pod.node) ?? 10;
    while (families.some((f) => taken.has(podIp(pod.node, host, f)))) host++;
    next.set(pod.node, host + 1);
    const ips = families.map((f) => podIp(pod.node, host, f));
    ips.forEach((ip) => taken.add(ip));
    return { ...pod, ips };
  });
}

function parseProbe(value: unknown, what: string): Probe {
  if (!isRecord(value)) throw new ScenarioError(`${what} must be a map`);
  const via = value.via === undefined ? 'pod' : String(value.via);
  if (via !== 'pod' && via !== 'service') throw new ScenarioError(`${what}: via must be service (or absent)`);
  const family = value.family === undefined ? 'IPv4' : String(value.family);
  if (family !== 'IPv4' && family !== 'IPv6') throw new ScenarioError(`${what}: family must be IPv4 or IPv6`);
  return { port: portOf(value.port, what), protocol: protocolOf(value.protocol, what), via, family };
}

function parseStep(value: unknown, index: number, pods: readonly ScenarioPod[], families: readonly Family[]): Step {
  const what = `steps[${index}]`;
  if (!isRecord(value)) throw new ScenarioError(`${what} must be a map`);
  const apply = (value.apply ?? []) as unknown[];
  const del = (value.delete ?? []) as unknown[];
  if (!Array.isArray(apply) || !apply.every(isRecord)) throw new ScenarioError(`${what}.apply must be a list of objects`);
  if (!Array.isArray(del) || !del.every(isRecord)) throw new ScenarioError(`${what}.delete must be a list of {kind, namespace, name}`);
  const probesRaw = need(value.probes, `${what}.probes`);
  if (!Array.isArray(probesRaw) || probesRaw.length === 0) throw new ScenarioError(`${what}.probes must list at least one probe`);
  const probes = probesRaw.map((p, i) => parseProbe(p, `${what}.probes[${i}]`));
  for (const probe of probes) {
    if (!families.includes(probe.family)) throw new ScenarioError(`${what}: probe ${probeKey(probe)} needs ${probe.family}, which the cluster does not have`);
  }
  let expect: Record<string, Record<string, string>> | undefined;
  if (value.expect !== undefined) {
    if (!isRecord(value.expect)) throw new ScenarioError(`${what}.expect must be a map`);
    const keys = new Set(probes.map(probeKey));
    expect = {};
    for (const [key, rows] of Object.entries(value.expect)) {
      if (!keys.has(key)) throw new ScenarioError(`${what}.expect.${key} names no probe of the step`);
      if (!isRecord(rows)) throw new ScenarioError(`${what}.expect.${key} must map pods to strings`);
      expect[key] = {};
      for (const [from, row] of Object.entries(rows)) {
        const text = String(row);
        if (!pods.some((p) => p.key === from)) throw new ScenarioError(`${what}.expect.${key}: unknown pod ${from}`);
        if (text.length !== pods.length || !/^[.X-]*$/.test(text)) {
          throw new ScenarioError(`${what}.expect.${key}.${from}: want ${pods.length} characters of '.', 'X' or '-'`);
        }
        expect[key][from] = text;
      }
    }
  }
  return {
    name: value.name === undefined ? `step ${index + 1}` : String(value.name),
    apply: apply as Raw[],
    delete: (del as Raw[]).map((d) => ({ kind: String(d.kind), namespace: String(d.namespace ?? 'default'), name: String(d.name) })),
    probes,
    ...(expect ? { expect } : {}),
  };
}

export function parseScenario(text: string): Scenario {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw new ScenarioError(`not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!isRecord(raw)) throw new ScenarioError('a scenario must be a map');
  const name = String(need(raw.name, 'name'));
  if (!/^[a-z0-9-]+$/.test(name)) throw new ScenarioError(`name "${name}" must match [a-z0-9-]+`);
  const cluster = isRecord(raw.cluster) ? raw.cluster : {};
  const nodes = cluster.nodes === undefined ? 2 : Number(cluster.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 200) throw new ScenarioError('cluster.nodes must be an integer from 1');
  const families = (cluster.ipFamilies ?? ['IPv4']) as unknown[];
  const valid = [['IPv4'], ['IPv6'], ['IPv4', 'IPv6']].map((f) => f.join(','));
  if (!Array.isArray(families) || !valid.includes(families.join(','))) throw new ScenarioError('cluster.ipFamilies must be [IPv4], [IPv6] or [IPv4, IPv6]');
  const ipFamilies = families as Family[];
  const nsRaw = need(raw.namespaces, 'namespaces');
  if (!Array.isArray(nsRaw)) throw new ScenarioError('namespaces must be a list');
  const namespaces = nsRaw.map((n: unknown, i: number) => {
    if (!isRecord(n)) throw new ScenarioError(`namespaces[${i}] must be a map`);
    return { name: String(need(n.name, `namespaces[${i}].name`)), labels: labelsOf(n.labels, `namespaces[${i}].labels`) };
  });
  const podsRaw = need(raw.pods, 'pods');
  if (!Array.isArray(podsRaw) || podsRaw.length === 0) throw new ScenarioError('pods must list at least one pod');
  const pods = parsePods(podsRaw, nodes, ipFamilies);
  for (const pod of pods) {
    if (!namespaces.some((n) => n.name === pod.namespace)) throw new ScenarioError(`pod ${pod.key}: namespace ${pod.namespace} is not in namespaces`);
  }
  const stepsRaw = need(raw.steps, 'steps');
  if (!Array.isArray(stepsRaw) || stepsRaw.length === 0) throw new ScenarioError('steps must list at least one step');
  const steps = stepsRaw.map((s: unknown, i: number) => parseStep(s, i, pods, ipFamilies));
  return { name, description: raw.description === undefined ? '' : String(raw.description), nodes, ipFamilies, namespaces, pods, steps };
}
