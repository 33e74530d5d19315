// The slim internal model: only what policy semantics need, copied out of the API objects so that the
// engine never holds a full Pod (memory per cluster pod is a goal) and never depends on API shapes.

import type { ValueSet } from './values.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export function isProtocol(value: unknown): value is Protocol {
  return (PROTOCOLS as readonly unknown[]).includes(value);
}

export type Family = 'IPv4' | 'IPv6';
export type Direction = 'ingress' | 'egress';
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/**
 * Label key -> value. Keys are user text (`toString` is a valid key): read with labelValue (model/labels),
 * never `labels[key]`, and iterate own entries only, so that no inherited property passes for a label.
 */
export type Labels = Readonly<Record<string, string>>;

/** `namespace/name`, the identity of a namespaced object everywhere in nftpol. */
export type ObjectKey = string;

export function objectKey(namespace: string, name: string): ObjectKey {
  return `${namespace}/${name}`;
}

export interface ContainerPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** spec.nodeName; empty while unscheduled. */
  readonly node: string;
  /** status.podIPs in API order (canonical text form). */
  readonly ips: readonly string[];
  readonly phase: PodPhase;
  readonly hostNetwork: boolean;
  readonly ports: readonly ContainerPort[];
}

export interface Namespace {
  readonly name: string;
  /** Always carries `kubernetes.io/metadata.name`, as the API server guarantees. */
  readonly labels: Labels;
}

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface SelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /**
   * In/NotIn values, sorted and searchable (model/values.ts), built once when the policy is read, so that
   * matching a pod costs a lookup however many values a tenant writes. Empty for Exists/DoesNotExist.
   */
  readonly values: ValueSet;
}

/** A label selector; both lists empty selects everything. */
export interface LabelSelector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly SelectorRequirement[];
}

/**
 * A peer that selects pods. `namespaceSelector` null means "the policy's own namespace" (a peer with
 * only a podSelector); otherwise the pods of every namespace the selector matches.
 */
export interface PodPeer {
  readonly kind: 'pods';
  readonly namespaceSelector: LabelSelector | null;
  readonly podSelector: LabelSelector;
}

export interface IpBlockPeer {
  readonly kind: 'ipBlock';
  readonly cidr: string;
  readonly except: readonly string[];
}

export type Peer = PodPeer | IpBlockPeer;

/** A port entry as the policy states it: numeric (maybe a range) or a name to resolve per pod. */
export type PolicyPort =
  | { readonly kind: 'number'; readonly protocol: Protocol; readonly port: number; readonly endPort: number }
  | { readonly kind: 'named'; readonly protocol: Protocol; readonly name: string }
  | { readonly kind: 'any'; readonly protocol: Protocol };

export interface PolicyRule {
  /** null: `from`/`to` absent or empty, matches every peer. */
  readonly peers: readonly Peer[] | null;
  /** null: `ports` absent or empty, matches every port of every protocol. */
  readonly ports: readonly PolicyPort[] | null;
}

/** A NetworkPolicy after the API server's defaulting and nftpol's validation. */
export interface NetworkPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** Rules per direction; a direction not in policyTypes is null (the policy does not isolate it). */
  readonly ingress: readonly PolicyRule[] | null;
  readonly egress: readonly PolicyRule[] | null;
}
