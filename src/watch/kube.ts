// The reflectors' source on a real API server: lists as plain JSON pages and watches through client-node's
// Watch (streaming, bookmarks on), both with the kubeconfig's credentials. The only code that talks to
// Kubernetes.
import { HttpMethod, KubeConfig, RequestContext, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { fetch } from 'undici';
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

/** An API error with its HTTP status (the reflector relists on 410). */
export class ApiStatusError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The reason in an API error's body: the Status message when it is one (for a 403, the user, verb and
 * resource the server refused: "... cannot list resource "networkpolicies" ..."), else the body's start.
 */
function statusMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not JSON
  }
  return body.slice(0, 200);
}

/**
 * A network failure with its cause: undici says only "fetch failed" or "terminated" and keeps the reason
 * (ECONNREFUSED, a reset, a TLS error) in `cause`. Aborts and timeouts pass unchanged: the reflector
 * knows them by name.
 */
function withCause(call: string, error: unknown): unknown {
  if (!(error instanceof Error) || error.name === 'AbortError' || error.name === 'TimeoutError') return error;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : cause?.code;
  const reason = typeof detail === 'string' ? ` (${detail})` : '';
  return new Error(`${call}: ${error.message}${reason}`, { cause: error });
}

type Page = { items: KubernetesObject[]; metadata?: { resourceVersion?: string; continue?: string } };

/**
 * One page of a list as plain JSON, with the kubeconfig's authentication and TLS (as client-node's Watch
 * makes its requests). Not through the typed list calls: they turn every object into class instances
 * (dates parsed, every field copied), which at 100,000 pods cost a second of startup and 200 MB of heap
 * for fields the agent never reads (make bench-agent).
 */
async function listPage(kc: KubeConfig, path: string, limit: number, next: string | undefined): Promise<Page> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  url.searchParams.set('limit', String(limit));
  if (next) url.searchParams.set('continue', next);
  const context = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  const response = await fetch(url, { method: 'GET', headers: context.getHeaders(), dispatcher: context.getDispatcher() }).catch((error: unknown) => {
    throw withCause(`list ${path}`, error);
  });
  if (!response.ok) {
    const body = await response.text().catch(() => '');
    throw new ApiStatusError(response.status, `list ${path}: HTTP ${response.status} ${statusMessage(body)}`);
  }
  return (await response.json()) as Page;
}

/**
 * Lists come in pages: a page of full objects is the most the agent holds at once. 5,000 rather than
 * client-go's 500: at 100,000 pods, 500 made startup 40 % slower for 6 % less memory (make bench-agent).
 */
export function kubeListerWatchers(kc: KubeConfig, pageSize = 5000): Record<WatchedKind, ListerWatcher> {
  const watcher = new Watch(kc);
  const make = (path: string): ListerWatcher => ({
    async list(onPage) {
      // The first page's resourceVersion is the list's.
      let resourceVersion: string | undefined;
      let next: string | undefined;
      do {
        const page = await listPage(kc, path, pageSize, next);
        resourceVersion ??= page.metadata?.resourceVersion ?? '';
        onPage(page.items);
        next = page.metadata?.continue || undefined;
      } while (next);
      return resourceVersion;
    },
    async watch(resourceVersion, onEvent, done) {
      // client-node reports a refused watch as its bare status text ("Forbidden"): name the call too.
      const ended = (error: unknown) => {
        const code = (error as { statusCode?: unknown } | null)?.statusCode;
        if (typeof code === 'number') done(new ApiStatusError(code, `watch ${path}: HTTP ${code} ${(error as Error).message}`));
        else done(error ? withCause(`watch ${path}`, error) : error);
      };
      const controller = await watcher.watch(path, { resourceVersion, allowWatchBookmarks: true }, (type, object) => onEvent(type, object as KubernetesObject), ended);
      return { abort: () => controller.abort() };
    },
  });
  return { Pod: make(WATCH_PATHS.Pod), Namespace: make(WATCH_PATHS.Namespace), NetworkPolicy: make(WATCH_PATHS.NetworkPolicy) };
}
