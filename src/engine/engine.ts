// The incremental policy engine: holds the slim cluster state, keeps every peer set's membership and every
// local pod's allow-set up to date event by event, and reports exactly which of them changed. Pure: the
// watch layer feeds it events, the dataplane reads its product; neither lives here.
import { NAMESPACE_NAME_LABEL } from '../model/normalize.js';
import type { Labels, Namespace, NetworkPolicy, ObjectKey, Pod } from '../model/types.js';
import { objectKey } from '../model/types.js';
import { cachedPeerSetKey, computePodAllow, policyPeerDefs, type PodAllow } from './allowset.js';
import { claimsIps, IpOwnership } from './ipowners.js';
import {
  blockContainsIp,
  compileBlock,
  contribution,
  isPodDependent,
  parseContribution,
  peerSetId,
  type CompiledBlock,
  type PeerSetDef,
} from './peerset.js';
import { PodIndex } from './podindex.js';
import { labelIndexKeys, selectorAnchor, selectorMatches } from './selector.js';

/** What changed since the last takeChanges(): local pods whose allow-set changed, peer sets whose content changed. */
export interface EngineChanges {
  readonly localPods: ReadonlySet<ObjectKey>;
  readonly peerSets: ReadonlySet<string>;
  /**
   * For changed sets that existed throughout the window: each member whose contribution changed, with
   * its contribution before the window (undefined: it was not a member). Lets a consumer update a large
   * set by its delta. Sets created or removed in the window are not here: take them whole.
   */
  readonly memberChanges?: ReadonlyMap<string, ReadonlyMap<ObjectKey, string | undefined>>;
}

interface PeerSetState {
  readonly id: string;
  readonly key: string;
  readonly def: PeerSetDef;
  readonly block: CompiledBlock | null;
  /** Index key under which candidate pods are found; null = check every pod. */
  readonly anchor: string | null;
  /** How many rule references keep the set alive. */
  refs: number;
  /** Member pod -> its contribution (see peerset.contribution). Empty for static ipBlock sets. */
  readonly members: Map<ObjectKey, string>;
}

interface PodRecord {
  pod: Pod;
  /** The pod's number in the pod index (podindex.ts). */
  readonly ordinal: number;
  owned: readonly string[];
  memberships: PeerSetState[];
}

/** One pod's share of a peer set: its addresses and, for named-port sets, the port its container has. */
export interface SetMember {
  readonly ips: readonly string[];
  readonly port: number | null;
}

/** A member whose share changed: before the window of an EngineChanges, and now (undefined: not a member). */
export interface MemberChange {
  readonly before: SetMember | undefined;
  readonly after: SetMember | undefined;
}

export interface PeerSetView {
  readonly id: string;
  readonly def: PeerSetDef;
  /** Member pod -> contributed addresses (and port, for tuple sets). */
  readonly members: ReadonlyMap<ObjectKey, { readonly ips: readonly string[]; readonly port: number | null }>;
}

function podIndexKeys(pod: Pod): string[] {
  const keys = labelIndexKeys(pod.labels);
  keys.push(`ns:${pod.namespace}`);
  for (const p of pod.ports) if (p.name) keys.push(`port:${p.name}`);
  return keys;
}

/**
 * The index key under which a set's candidate pods are found, the narrowest one known without counting:
 * a set scoped to one namespace is anchored there (a namespace holds few pods and few sets), otherwise
 * on a label the pod selector requires, then on the named port; null means "check every pod".
 */
function setAnchor(def: PeerSetDef): string | null {
  switch (def.kind) {
    case 'pods':
      if (def.scope.kind === 'name') return `ns:${def.scope.name}`;
      return selectorAnchor(def.podSelector) ?? (def.port ? `port:${def.port.name}` : null);
    case 'ipBlock':
    case 'all':
      return def.port ? `port:${def.port.name}` : null;
  }
}

function addToIndex<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFromIndex<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

export class PolicyEngine {
  private readonly pods = new Map<ObjectKey, PodRecord>();
  private readonly namespaces = new Map<string, Namespace>();
  private readonly policies = new Map<ObjectKey, NetworkPolicy>();
  private readonly policiesByNamespace = new Map<string, Map<string, NetworkPolicy>>();
  private readonly sortedPolicies = new Map<string, NetworkPolicy[]>();
  /** 'k=v', 'k', 'ns:<namespace>', 'port:<name>' -> pods. */
  private readonly podIndex = new PodIndex();
  /** Namespaces that hold at least one pod (known as Namespace objects or not). */
  private readonly podNamespaces = new Set<string>();
  private readonly owners = new IpOwnership((key) => this.pods.get(key)?.pod);
  private readonly sets = new Map<string, PeerSetState>();
  private readonly setsById = new Map<string, PeerSetState>();
  private readonly setIndex = new Map<string, Set<PeerSetState>>();
  private readonly unanchoredSets = new Set<PeerSetState>();
  private readonly local = new Map<ObjectKey, PodAllow>();
  private changedLocal = new Set<ObjectKey>();
  private changedSets = new Set<string>();
  private memberChanges = new Map<string, Map<ObjectKey, string | undefined>>();
  /** Sets created or removed in this window: no member deltas for them. */
  private wholeSets = new Set<string>();

  /** @param node the node whose pods are local; null makes every pod local (the offline CLI). */
  constructor(readonly node: string | null) {}

  // ------------------------------------------------------------------------------------------ events

  upsertPod(pod: Pod): void {
    const key = objectKey(pod.namespace, pod.name);
    const record = this.pods.get(key);
    const old = record?.pod;
    const claimedBefore = old && claimsIps(old) ? old.ips : [];
    const claimedAfter = claimsIps(pod) ? pod.ips : [];
    this.owners.remove(key, claimedBefore);
    let ordinal: number;
    if (record) {
      ordinal = record.ordinal;
      for (const k of podIndexKeys(record.pod)) this.podIndex.remove(k, ordinal);
      record.pod = pod;
    } else {
      ordinal = this.podIndex.ordinal(key);
      this.pods.set(key, { pod, ordinal, owned: [], memberships: [] });
    }
    for (const k of podIndexKeys(pod)) this.podIndex.add(k, ordinal);
    this.podNamespaces.add(pod.namespace);
    this.owners.add(key, claimedAfter);
    // Every claimant of an address this pod gave up or took may have gained or lost it.
    const affected = this.owners.claimants([...claimedBefore, ...claimedAfter]);
    affected.add(key);
    for (const k of affected) this.refreshPod(k);
  }

  deletePod(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    const record = this.pods.get(key);
    if (!record) return;
    const claimed = claimsIps(record.pod) ? record.pod.ips : [];
    this.owners.remove(key, claimed);
    for (const k of podIndexKeys(record.pod)) this.podIndex.remove(k, record.ordinal);
    this.podIndex.release(record.ordinal);
    if (!this.podIndex.has(`ns:${namespace}`)) this.podNamespaces.delete(namespace);
    for (const set of record.memberships) {
      this.memberChanged(set, key, set.members.get(key));
      set.members.delete(key);
    }
    this.pods.delete(key);
    if (this.local.delete(key)) this.changedLocal.add(key);
    for (const k of this.owners.claimants(claimed)) this.refreshPod(k);
  }

  upsertNamespace(ns: Namespace): void {
    const before = this.namespaceLabels(ns.name);
    this.namespaces.set(ns.name, ns);
    this.namespaceLabelsChanged(ns.name, before);
  }

  deleteNamespace(name: string): void {
    const before = this.namespaceLabels(name);
    this.namespaces.delete(name);
    this.namespaceLabelsChanged(name, before);
  }

  upsertPolicy(policy: NetworkPolicy): void {
    const key = objectKey(policy.namespace, policy.name);
    const old = this.policies.get(key);
    // Acquire the new sets before releasing the old ones, so a set both use is never torn down.
    for (const def of policyPeerDefs(policy)) this.acquireSet(def);
    if (old) for (const def of policyPeerDefs(old)) this.releaseSet(def);
    this.policies.set(key, policy);
    let inNamespace = this.policiesByNamespace.get(policy.namespace);
    if (!inNamespace) this.policiesByNamespace.set(policy.namespace, (inNamespace = new Map()));
    inNamespace.set(policy.name, policy);
    this.sortedPolicies.delete(policy.namespace);
    this.refreshSelectedLocalPods(policy, old);
  }

  deletePolicy(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    const old = this.policies.get(key);
    if (!old) return;
    for (const def of policyPeerDefs(old)) this.releaseSet(def);
    this.policies.delete(key);
    const inNamespace = this.policiesByNamespace.get(namespace);
    inNamespace?.delete(name);
    if (inNamespace?.size === 0) this.policiesByNamespace.delete(namespace);
    this.sortedPolicies.delete(namespace);
    this.refreshSelectedLocalPods(old, undefined);
  }

  /** Returns what changed since the previous call and starts a new change set. */
  takeChanges(): EngineChanges {
    const changes = { localPods: this.changedLocal, peerSets: this.changedSets, memberChanges: this.memberChanges };
    this.changedLocal = new Set();
    this.changedSets = new Set();
    this.memberChanges = new Map();
    this.wholeSets = new Set();
    return changes;
  }

  // ------------------------------------------------------------------------------------------ queries

  /** Allow-sets of the local pods, by `namespace/name`. */
  localPods(): ReadonlyMap<ObjectKey, PodAllow> {
    return this.local;
  }

  /** The allow-set of any pod, local or not (computed on demand for pods of other nodes). */
  podAllow(key: ObjectKey): PodAllow | undefined {
    const local = this.local.get(key);
    if (local) return local;
    const record = this.pods.get(key);
    return record ? this.computeAllow(record) : undefined;
  }

  pod(key: ObjectKey): Pod | undefined {
    return this.pods.get(key)?.pod;
  }

  *allPods(): Iterable<Pod> {
    for (const record of this.pods.values()) yield record.pod;
  }

  allNamespaces(): Iterable<Namespace> {
    return this.namespaces.values();
  }

  /** The labels a namespace is matched with; a namespace not (yet) seen has only its name label. */
  namespaceLabels(name: string): Labels {
    return this.namespaces.get(name)?.labels ?? { [NAMESPACE_NAME_LABEL]: name };
  }

  /** The addresses a pod owns (none for hostNetwork and terminal pods, or when another pod won them). */
  ownedIps(key: ObjectKey): readonly string[] {
    return this.pods.get(key)?.owned ?? [];
  }

  /** The pod that owns an address, if any. */
  ownerOf(ip: string): ObjectKey | undefined {
    return this.owners.owner(ip);
  }

  peerSetIds(): Iterable<string> {
    return this.setsById.keys();
  }

  /** A set's definition, without copying its members (see peerSet for those). */
  peerSetDef(id: string): PeerSetDef | undefined {
    return this.setsById.get(id)?.def;
  }

  peerSet(id: string): PeerSetView | undefined {
    const set = this.setsById.get(id);
    if (!set) return undefined;
    const members = new Map<ObjectKey, { ips: readonly string[]; port: number | null }>();
    for (const [k, v] of set.members) members.set(k, parseContribution(v));
    return { id, def: set.def, members };
  }

  /**
   * The members of one set that changed in `changes`, typed, before and now; undefined when the set is
   * to be taken whole (created or removed in the window, or unchanged). Now is the engine's current
   * state: ask right after takeChanges(), before the next event.
   */
  memberDeltas(changes: EngineChanges, id: string): ReadonlyMap<ObjectKey, MemberChange> | undefined {
    const members = changes.memberChanges?.get(id);
    if (members === undefined) return undefined;
    const current = this.setsById.get(id)?.members;
    const out = new Map<ObjectKey, MemberChange>();
    for (const [key, previous] of members) {
      const now = current?.get(key);
      out.set(key, { before: previous === undefined ? undefined : parseContribution(previous), after: now === undefined ? undefined : parseContribution(now) });
    }
    return out;
  }

  /** A member's raw contribution to a set (see peerset.contribution), undefined when not a member. */
  contributionOf(id: string, key: ObjectKey): string | undefined {
    return this.setsById.get(id)?.members.get(key);
  }

  /** Does the set contain this address (and, for tuple sets, this protocol and port)? */
  peerSetMatches(id: string, ip: string, protocol: string, port: number): boolean {
    const set = this.setsById.get(id);
    if (!set) return false;
    if (!isPodDependent(set.def)) return set.block !== null && blockContainsIp(set.block, ip);
    const owner = this.owners.owner(ip);
    const value = owner === undefined ? undefined : set.members.get(owner);
    if (value === undefined) return false;
    const parsed = parseContribution(value);
    if (!parsed.ips.includes(ip)) return false;
    return set.def.port === undefined || (set.def.port.protocol === protocol && parsed.port === port);
  }

  // ------------------------------------------------------------------------------------------ internals

  private namespacePolicies(namespace: string): NetworkPolicy[] {
    let sorted = this.sortedPolicies.get(namespace);
    if (!sorted) {
      const byName = this.policiesByNamespace.get(namespace);
      sorted = byName ? [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) : [];
      this.sortedPolicies.set(namespace, sorted);
    }
    return sorted;
  }

  private idOf = (def: PeerSetDef): string => {
    const set = this.sets.get(cachedPeerSetKey(def));
    if (!set) throw new Error(`internal: peer set ${cachedPeerSetKey(def)} referenced but not held`);
    return set.id;
  };

  private isLocal(pod: Pod): boolean {
    return this.node === null || pod.node === this.node;
  }

  private computeAllow(record: PodRecord): PodAllow {
    return computePodAllow(record.pod, record.owned, this.namespacePolicies(record.pod.namespace), this.idOf);
  }

  /** Re-derives everything that depends on one pod: its addresses, set memberships, allow-set. */
  private refreshPod(key: ObjectKey): void {
    const record = this.pods.get(key);
    if (!record) return;
    record.owned = this.owners.ownedIps(key, record.pod);
    const candidates = new Set<PeerSetState>(record.memberships);
    for (const k of podIndexKeys(record.pod)) {
      const anchored = this.setIndex.get(k);
      if (anchored) for (const s of anchored) candidates.add(s);
    }
    for (const s of this.unanchoredSets) candidates.add(s);
    const nsLabels = this.namespaceLabels(record.pod.namespace);
    const memberships: PeerSetState[] = [];
    for (const set of candidates) {
      if (this.evaluate(set, key, record, nsLabels)) memberships.push(set);
    }
    // slice(): an array grown by push keeps room for 17 entries; the copy has exactly its length.
    record.memberships = memberships.slice();
    this.refreshLocal(key, record);
  }

  /** Updates one pod's membership in one set; returns whether it is a member now. */
  private evaluate(set: PeerSetState, key: ObjectKey, record: PodRecord, nsLabels: Labels): boolean {
    const value = contribution(set.def, set.block, record.pod, record.owned, nsLabels);
    const previous = set.members.get(key);
    if (value !== null) {
      if (previous !== value) {
        this.memberChanged(set, key, previous);
        set.members.set(key, value);
      }
      return true;
    }
    if (previous !== undefined) {
      this.memberChanged(set, key, previous);
      set.members.delete(key);
    }
    return false;
  }

  /** Records that a member's contribution changed, keeping the first previous value of the window. */
  private memberChanged(set: PeerSetState, key: ObjectKey, previous: string | undefined): void {
    this.changedSets.add(set.id);
    if (this.wholeSets.has(set.id)) return;
    let members = this.memberChanges.get(set.id);
    if (!members) this.memberChanges.set(set.id, (members = new Map()));
    if (!members.has(key)) members.set(key, previous);
  }

  /** A set was created or removed: it is to be taken whole, not by member deltas. */
  private setReplaced(id: string): void {
    this.changedSets.add(id);
    this.wholeSets.add(id);
    this.memberChanges.delete(id);
  }

  private refreshLocal(key: ObjectKey, record: PodRecord): void {
    const previous = this.local.get(key);
    if (!this.isLocal(record.pod)) {
      if (previous && this.local.delete(key)) this.changedLocal.add(key);
      return;
    }
    const allow = this.computeAllow(record);
    if (previous === undefined || !sameValue(previous, allow)) {
      this.local.set(key, allow);
      this.changedLocal.add(key);
    }
  }

  private refreshSelectedLocalPods(policy: NetworkPolicy, old: NetworkPolicy | undefined): void {
    for (const key of this.podIndex.pods(`ns:${policy.namespace}`)) {
      const record = this.pods.get(key)!;
      if (!this.isLocal(record.pod)) continue;
      const labels = record.pod.labels;
      if (selectorMatches(policy.podSelector, labels) || (old !== undefined && selectorMatches(old.podSelector, labels))) {
        this.refreshLocal(key, record);
      }
    }
  }

  private namespaceLabelsChanged(name: string, before: Labels): void {
    const after = this.namespaceLabels(name);
    if (JSON.stringify(before) === JSON.stringify(after)) return;
    if (!this.podIndex.has(`ns:${name}`)) return;
    for (const set of this.setsById.values()) {
      if (set.def.kind !== 'pods' || set.def.scope.kind !== 'selector') continue;
      const selector = set.def.scope.selector;
      if (selectorMatches(selector, before) === selectorMatches(selector, after)) continue;
      for (const key of this.podIndex.pods(`ns:${name}`)) {
        const record = this.pods.get(key)!;
        const isMember = this.evaluate(set, key, record, after);
        const index = record.memberships.indexOf(set);
        if (isMember && index < 0) record.memberships.push(set);
        if (!isMember && index >= 0) record.memberships.splice(index, 1);
      }
    }
  }

  private acquireSet(def: PeerSetDef): void {
    const key = cachedPeerSetKey(def);
    const existing = this.sets.get(key);
    if (existing) {
      existing.refs++;
      return;
    }
    const set: PeerSetState = {
      id: peerSetId(key),
      key,
      def,
      block: def.kind === 'ipBlock' ? compileBlock(def.cidr, def.except) : null,
      anchor: setAnchor(def),
      refs: 1,
      members: new Map(),
    };
    this.sets.set(key, set);
    this.setsById.set(set.id, set);
    this.setReplaced(set.id);
    if (!isPodDependent(def)) return;
    if (set.anchor === null) this.unanchoredSets.add(set);
    else addToIndex(this.setIndex, set.anchor, set);
    for (const podKey of this.initialCandidates(set)) {
      const record = this.pods.get(podKey)!;
      if (this.evaluate(set, podKey, record, this.namespaceLabels(record.pod.namespace))) record.memberships.push(set);
    }
  }

  /**
   * Pods that may belong to a new set: those under its anchor or, for a namespace selector, those of the
   * namespaces it selects, whichever is fewer (a selector like `team=a` usually picks a few namespaces).
   */
  private initialCandidates(set: PeerSetState): Iterable<ObjectKey> {
    const anchored: Iterable<ObjectKey> = set.anchor === null ? this.pods.keys() : this.podIndex.pods(set.anchor);
    const anchoredCount = set.anchor === null ? this.pods.size : this.podIndex.count(set.anchor);
    if (set.def.kind !== 'pods' || set.def.scope.kind !== 'selector') return anchored;
    const selector = set.def.scope.selector;
    const byNamespace: string[] = [];
    let count = 0;
    for (const name of this.podNamespaces) {
      if (!selectorMatches(selector, this.namespaceLabels(name))) continue;
      byNamespace.push(`ns:${name}`);
      count += this.podIndex.count(`ns:${name}`);
      if (count >= anchoredCount) return anchored;
    }
    const index = this.podIndex;
    return (function* () {
      for (const key of byNamespace) yield* index.pods(key);
    })();
  }

  private releaseSet(def: PeerSetDef): void {
    const key = cachedPeerSetKey(def);
    const set = this.sets.get(key);
    if (!set || --set.refs > 0) return;
    this.sets.delete(key);
    this.setsById.delete(set.id);
    this.setReplaced(set.id);
    if (set.anchor === null) this.unanchoredSets.delete(set);
    else removeFromIndex(this.setIndex, set.anchor, set);
    for (const podKey of set.members.keys()) {
      const record = this.pods.get(podKey);
      if (record) record.memberships = record.memberships.filter((s) => s !== set);
    }
  }
}

/**
 * Deep equality of plain data (objects, arrays, primitives). Replaces comparing JSON.stringify of two
 * allow-sets, which for a pod selected by a policy of a thousand rules serialised both on every refresh.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  for (const key of keys) if (!Object.hasOwn(y, key) || !sameValue(x[key], y[key])) return false;
  return true;
}
