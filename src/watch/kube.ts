// The reflectors' source on a real API server: lists through client-node's typed APIs, watches through its
// Watch (streaming, bookmarks on). The only code that talks to Kubernetes.
import { CoreV1Api, KubeConfig, NetworkingV1Api, Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { ListerWatcher } from './reflector.js';

export type WatchedKind = 'Pod' | 'Namespace' | 'NetworkPolicy';
export const WATCHED_KINDS: readonly WatchedKind[] = ['Namespace', 'Pod', 'NetworkPolicy'];

/** The API paths nftpol reads, one per kind (RBAC: list and watch on each, nothing else). */
export const WATCH_PATHS: Record<WatchedKind, string> = {
  Pod: '/api/v1/pods',
  Namespace: '/api/v1/namespaces',
  NetworkPolicy: '/apis/networking.k8s.io/v1/networkpolicies',
};

/** In-cluster config by default (the DaemonSet's service account), or a kubeconfig file. */
export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

export function kubeListerWatchers(kc: KubeConfig): Record<WatchedKind, ListerWatcher> {
  const core = kc.makeApiClient(CoreV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);
  const watcher = new Watch(kc);
  const make = (path: string, list: () => Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }>): ListerWatcher => ({
    async list() {
      const result = await list();
      return { items: result.items, resourceVersion: result.metadata?.resourceVersion ?? '' };
    },
    async watch(resourceVersion, onEvent, done) {
      const controller = await watcher.watch(path, { resourceVersion, allowWatchBookmarks: true }, (type, object) => onEvent(type, object as KubernetesObject), done);
      return { abort: () => controller.abort() };
    },
  });
  return {
    Pod: make(WATCH_PATHS.Pod, () => core.listPodForAllNamespaces()),
    Namespace: make(WATCH_PATHS.Namespace, () => core.listNamespace()),
    NetworkPolicy: make(WATCH_PATHS.NetworkPolicy, () => networking.listNetworkPolicyForAllNamespaces()),
  };
}
