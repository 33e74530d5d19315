// `nftpol explain` and `nftpol matrix` against a live cluster: the kubeconfig as kubectl reads it
// (--kubeconfig, KUBECONFIG, ~/.kube/config, in-cluster; --context; the context's namespace), and three
// lists (pods, namespaces, networkpolicies), the RBAC of a read-only user. The objects then go through the
// same engine as manifests from files, so the answer is the one the agents enforce.
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { LoadedManifests, SourceObject } from '../manifests/load.js';
import { ApiStatusError, kubeListerWatchers, WATCHED_KINDS, type WatchedKind } from '../watch/kube.js';
import { UsageError } from './offline.js';

/** The cluster could not be read (unreachable, forbidden): exit code 1, as kubectl's own errors. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

/** The flags kubectl plugins take to reach a cluster. */
export interface ClusterFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
}

export interface ClusterTarget {
  readonly kc: KubeConfig;
  readonly context: string;
  readonly server: string;
  /** -n, else the context's namespace, else `default` (kubectl's rule). */
  readonly namespace: string;
}

const RESOURCE: Record<WatchedKind, string> = { Pod: 'pods', Namespace: 'namespaces', NetworkPolicy: 'networkpolicies.networking.k8s.io' };
const API_VERSION: Record<WatchedKind, string> = { Pod: 'v1', Namespace: 'v1', NetworkPolicy: 'networking.k8s.io/v1' };

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The kubeconfig and context kubectl would use with the same flags and environment. */
export function clusterTarget(flags: ClusterFlags): ClusterTarget {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new UsageError(`cannot read the kubeconfig${flags.kubeconfig ? ` ${flags.kubeconfig}` : ''}: ${message(error)}`);
  }
  if (flags.context !== undefined) {
    if (!kc.getContextObject(flags.context)) {
      throw new UsageError(`no context "${flags.context}" in the kubeconfig (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kc.setCurrentContext(flags.context);
  }
  const context = kc.getCurrentContext();
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new UsageError(`the kubeconfig's context "${context}" names no cluster with a server`);
  const namespace = flags.namespace ?? kc.getContextObject(context)?.namespace ?? 'default';
  return { kc, context, server, namespace };
}

/** A pod nftpol cannot place: no address yet, or finished (it is in no peer set and has no rules). */
export interface AbsentPod {
  readonly key: string;
  readonly why: string;
}

export interface ClusterObjects {
  readonly manifests: LoadedManifests;
  /** Pods left out because they have no address or have finished, by namespace/name. */
  readonly absent: ReadonlyMap<string, AbsentPod>;
  /** Each pod's node and node address (status.hostIP), for reading the deny counters of its agent. */
  readonly placement: ReadonlyMap<string, { readonly node: string; readonly hostIP: string | null }>;
}

type RawPod = KubernetesObject & { spec?: { nodeName?: string }; status?: { phase?: string; podIP?: string; podIPs?: unknown[]; hostIP?: string } };

async function listAll(target: ClusterTarget, kind: WatchedKind): Promise<KubernetesObject[]> {
  const items: KubernetesObject[] = [];
  try {
    await kubeListerWatchers(target.kc)[kind].list((page) => items.push(...page));
  } catch (error) {
    if (error instanceof ApiStatusError && (error.statusCode === 401 || error.statusCode === 403)) {
      const user = target.kc.getCurrentUser()?.name ?? 'the current user';
      throw new ClusterError(
        `cannot list ${RESOURCE[kind]} in all namespaces as ${user} (HTTP ${error.statusCode}): nftpol explain and matrix need list on pods, namespaces and networkpolicies.networking.k8s.io cluster-wide (kubectl auth can-i list ${RESOURCE[kind]} -A)`,
      );
    }
    if (error instanceof ApiStatusError) throw new ClusterError(`the API server at ${target.server} refused to list ${RESOURCE[kind]}: ${error.message}`);
    const cause = causeOf(error);
    throw new ClusterError(`cannot list ${RESOURCE[kind]} from the API server at ${target.server} (context ${target.context}): ${message(error)}${cause}`);
  }
  return items;
}

function keyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? 'default'}/${object.metadata?.name ?? '?'}`;
}

/** Lists Pods, Namespaces and NetworkPolicies (all namespaces, paged as the agent lists them). */
export async function readCluster(target: ClusterTarget): Promise<ClusterObjects> {
  const lists = await Promise.all(WATCHED_KINDS.map(async (kind) => ({ kind, items: await listAll(target, kind) })));
  const objects: SourceObject[] = [];
  const absent = new Map<string, AbsentPod>();
  const placement = new Map<string, { node: string; hostIP: string | null }>();
  for (const { kind, items } of lists) {
    for (const item of items) {
      if (kind === 'Pod') {
        const pod = item as RawPod;
        const key = keyOf(pod);
        const phase = pod.status?.phase ?? 'Pending';
        // Unlike hand-written manifests, a live pod without an address has none yet: inventing one (as the
        // offline tools do) would show connections that do not exist.
        if (phase === 'Succeeded' || phase === 'Failed') {
          absent.set(key, { key, why: `it has finished (phase ${phase})` });
          continue;
        }
        if (!pod.status?.podIP && (pod.status?.podIPs ?? []).length === 0) {
          absent.set(key, { key, why: `it has no address yet (phase ${phase})` });
          continue;
        }
        placement.set(key, { node: pod.spec?.nodeName ?? '', hostIP: pod.status?.hostIP ?? null });
      }
      // List items carry neither kind nor apiVersion.
      objects.push({ file: `cluster ${target.context}`, raw: { ...item, kind, apiVersion: API_VERSION[kind] }, lineOf: () => undefined });
    }
  }
  return { manifests: { objects, diagnostics: [] }, absent, placement };
}

/** A clear error when explain names a pod that the cluster has but nftpol leaves out. */
export function checkPresent(objects: ClusterObjects, key: string | null): void {
  const pod = key === null ? undefined : objects.absent.get(key);
  if (pod) throw new ClusterError(`pod ${pod.key} takes part in no connection: ${pod.why}`);
}

/** fetch's own message is "fetch failed"; the reason (ECONNREFUSED, a TLS error) is its cause. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const text = typeof cause === 'object' && cause !== null && 'message' in cause ? String(cause.message) : '';
  // The lister names the cause itself already (src/watch/kube.ts withCause): say it once.
  return text && !message(error).includes(text) ? `: ${text}` : '';
}
