// Builds an engine from manifests for the offline CLI: normalizes each object, gives pods without
// addresses deterministic ones, and warns about the mistakes users really make.
import type { V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { PolicyEngine } from '../engine/engine.js';
import { describeSelector, selectorIsEmpty, selectorMatches } from '../engine/selector.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../model/limits.js';
import { InvalidObjectError, normalizeNamespace, normalizePolicy, normalizePod, type Problem } from '../model/normalize.js';
import type { LabelSelector, NetworkPolicy, ObjectKey, Pod } from '../model/types.js';
import { objectKey } from '../model/types.js';
import { formatPath, parsePath, type Diagnostic } from './diagnostics.js';
import type { LoadedManifests, SourceObject } from './load.js';
import { hintFor, unknownPolicyFields } from './schema.js';

export interface ManifestCluster {
  readonly engine: PolicyEngine;
  /** Pods in the order the manifests list them. */
  readonly pods: readonly ObjectKey[];
  readonly diagnostics: readonly Diagnostic[];
  /** Policies over a cost limit (`namespace/name` -> where and why), for `explain` to name. */
  readonly overLimit: ReadonlyMap<ObjectKey, readonly Problem[]>;
}

function describe(obj: SourceObject): string {
  const meta = (obj.raw.metadata ?? {}) as { name?: string; namespace?: string };
  const ns = obj.raw.kind === 'Namespace' ? '' : `${meta.namespace ?? 'default'}/`;
  return `${String(obj.raw.kind)} ${ns}${meta.name ?? '?'}`;
}

function withDefaultNamespace<T extends { metadata?: { namespace?: string } }>(obj: T): T {
  return { ...obj, metadata: { ...obj.metadata, namespace: obj.metadata?.namespace ?? 'default' } };
}

/**
 * Pods without `status.podIPs` get `10.244.<n>.<10+i>`: n is the index of the pod's node among the
 * manifests' node names (pods without a node count as one more node), as the scenario format addresses
 * nodes.
 */
function assignAddresses(pods: Pod[], diagnostics: Diagnostic[]): Pod[] {
  const taken = new Set(pods.flatMap((p) => p.ips));
  const nodes = [...new Set(pods.map((p) => p.node))].sort();
  const next = new Map<string, number>();
  return pods.map((pod) => {
    if (pod.ips.length > 0 || pod.hostNetwork) return pod;
    const n = nodes.indexOf(pod.node);
    let host = next.get(pod.node) ?? 10;
    while (taken.has(`10.244.${n}.${host}`)) host++;
    const ip = `10.244.${n}.${host}`;
    next.set(pod.node, host + 1);
    taken.add(ip);
    diagnostics.push({ level: 'notice', object: `Pod ${pod.namespace}/${pod.name}`, message: `no status.podIPs; using ${ip}` });
    return { ...pod, ips: [ip], phase: pod.phase === 'Pending' ? 'Running' : pod.phase };
  });
}

/** What the selector lints compare against, gathered once for all policies. */
interface LintContext {
  readonly engine: PolicyEngine;
  readonly pods: readonly Pod[];
  readonly hasNamespaces: boolean;
  readonly namespaceLabelKeys: ReadonlySet<string>;
}

function lintContext(engine: PolicyEngine): LintContext {
  const namespaces = [...engine.allNamespaces()];
  return {
    engine,
    pods: [...engine.allPods()],
    hasNamespaces: namespaces.length > 0,
    namespaceLabelKeys: new Set(namespaces.flatMap((n) => Object.keys(n.labels))),
  };
}

function lintSelectors({ engine, pods, hasNamespaces, namespaceLabelKeys }: LintContext, policy: NetworkPolicy, source: SourceObject, out: Diagnostic[]): void {
  const warn = (path: (string | number)[], message: string) =>
    out.push({ level: 'warning', file: source.file, line: source.lineOf(path), object: describe(source), path: formatPath(path), message });
  if (pods.length > 0 && !pods.some((p) => p.namespace === policy.namespace && selectorMatches(policy.podSelector, p.labels))) {
    warn(['spec', 'podSelector'], `selects no pod in namespace ${policy.namespace} (${describeSelector(policy.podSelector)})`);
  }
  const checkNamespaceSelector = (selector: LabelSelector, path: (string | number)[]) => {
    const keys = [...Object.keys(selector.matchLabels), ...selector.matchExpressions.filter((e) => e.operator === 'In' || e.operator === 'Exists').map((e) => e.key)];
    for (const key of keys) {
      if (hasNamespaces && !namespaceLabelKeys.has(key)) warn(path, `no namespace has the label "${key}"; label namespaces first (kubectl label namespace ...)`);
    }
  };
  for (const direction of ['ingress', 'egress'] as const) {
    const field = direction === 'ingress' ? 'from' : 'to';
    policy[direction]?.forEach((rule, r) =>
      rule.peers?.forEach((peer, p) => {
        if (peer.kind !== 'pods') return;
        const path = ['spec', direction, r, field, p];
        if (peer.namespaceSelector !== null) checkNamespaceSelector(peer.namespaceSelector, [...path, 'namespaceSelector']);
        if (pods.length === 0) return;
        const matches = pods.some(
          (pod) =>
            !pod.hostNetwork &&
            selectorMatches(peer.podSelector, pod.labels) &&
            (peer.namespaceSelector === null ? pod.namespace === policy.namespace : selectorMatches(peer.namespaceSelector, engine.namespaceLabels(pod.namespace))),
        );
        if (!matches && !(peer.namespaceSelector && selectorIsEmpty(peer.namespaceSelector) && selectorIsEmpty(peer.podSelector))) {
          warn(path, `matches no pod in the manifests (pods ${describeSelector(peer.podSelector)}${peer.namespaceSelector ? ` in namespaces ${describeSelector(peer.namespaceSelector)}` : ` in ${policy.namespace}`})`);
        }
      }),
    );
  }
}

export function buildCluster(loaded: LoadedManifests, node: string | null = null, limits: PolicyLimits = DEFAULT_POLICY_LIMITS): ManifestCluster {
  const diagnostics: Diagnostic[] = [...loaded.diagnostics];
  const engine = new PolicyEngine(node);
  const rawPods: Pod[] = [];
  const policies: { object: SourceObject; policy: NetworkPolicy }[] = [];
  const overLimitPolicies = new Map<ObjectKey, Problem[]>();
  for (const object of loaded.objects) {
    const name = describe(object);
    const at = (path: readonly (string | number)[]) => ({ file: object.file, line: object.lineOf(path), object: name });
    try {
      switch (object.raw.kind) {
        case 'Pod': {
          const addressProblems: Problem[] = [];
          rawPods.push(normalizePod(withDefaultNamespace(object.raw as V1Pod), addressProblems));
          for (const problem of addressProblems) diagnostics.push({ level: 'error', ...at(parsePath(problem.path)), path: problem.path, message: problem.message });
          break;
        }
        case 'Namespace':
          engine.upsertNamespace(normalizeNamespace(object.raw as V1Namespace));
          break;
        case 'NetworkPolicy': {
          for (const unknown of unknownPolicyFields(object.raw)) {
            diagnostics.push({ level: 'warning', ...at(unknown.path), path: formatPath(unknown.path), message: hintFor(unknown) });
          }
          const { policy, droppedRules, overLimit } = normalizePolicy(withDefaultNamespace(object.raw as V1NetworkPolicy), limits);
          for (const problem of droppedRules) {
            diagnostics.push({ level: 'error', ...at(parsePath(problem.path)), path: problem.path, message: `${problem.message}; the rule is left out (it allows nothing)` });
          }
          if (overLimit.length > 0) overLimitPolicies.set(objectKey(policy.namespace, policy.name), [...overLimit]);
          for (const problem of overLimit) {
            diagnostics.push({ level: 'error', ...at(parsePath(problem.path)), path: problem.path, message: `${problem.message}; the policy still isolates its pods` });
          }
          policies.push({ object, policy });
          break;
        }
        default:
          diagnostics.push({ level: 'notice', ...at([]), message: `kind ${String(object.raw.kind)} is not used by nftpol; skipped` });
      }
    } catch (error) {
      if (!(error instanceof InvalidObjectError)) throw error;
      if (object.raw.kind === 'NetworkPolicy' && error.problems.some((p) => p.limit !== undefined)) {
        const meta = (object.raw.metadata ?? {}) as { name?: string; namespace?: string };
        overLimitPolicies.set(objectKey(meta.namespace ?? 'default', meta.name ?? ''), error.problems.filter((p) => p.limit !== undefined));
      }
      for (const problem of error.problems) {
        diagnostics.push({ level: 'error', ...at([]), path: problem.path, message: `${problem.message}; the object is left out` });
      }
    }
  }
  const pods = assignAddresses(rawPods, diagnostics);
  for (const pod of pods) engine.upsertPod(pod);
  for (const { policy } of policies) engine.upsertPolicy(policy);
  const context = lintContext(engine);
  for (const { object, policy } of policies) {
    lintSelectors(context, policy, object, diagnostics);
  }
  engine.takeChanges();
  return { engine, pods: pods.map((p) => objectKey(p.namespace, p.name)), diagnostics, overLimit: overLimitPolicies };
}
