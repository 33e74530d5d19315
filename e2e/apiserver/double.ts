// A Kubernetes API server double, written for nftpol's tests and sandbox cluster. It is a test tool, not a
// server anyone should run. Over plain HTTP it serves:
// - list and watch of Pods, Namespaces and NetworkPolicies, with resourceVersions, watch bookmarks and
//   `410 Gone` for a resourceVersion older than the last compaction;
// - the API server's own behaviour where agents rely on it: `kubernetes.io/metadata.name` on namespaces,
//   NetworkPolicy defaulting (policyTypes, protocol TCP);
// - fault injection: drop every watch, stop answering (down/up), restart on the same port, compact.
// Objects are created, replaced and deleted through methods (tests) rather than HTTP writes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Kind = 'Pod' | 'Namespace' | 'NetworkPolicy';

type ApiObject = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> }; spec?: Record<string, unknown> } & Record<string, unknown>;

const PATHS: Record<string, Kind> = {
  '/api/v1/pods': 'Pod',
  '/api/v1/namespaces': 'Namespace',
  '/apis/networking.k8s.io/v1/networkpolicies': 'NetworkPolicy',
};
const API_VERSION: Record<Kind, string> = { Pod: 'v1', Namespace: 'v1', NetworkPolicy: 'networking.k8s.io/v1' };

interface Event {
  readonly rv: number;
  readonly kind: Kind;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: ApiObject;
}

interface Watcher {
  readonly kind: Kind;
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
}

function keyOf(object: ApiObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/** The API server's defaulting of a NetworkPolicy (pkg/apis/networking/v1/defaults.go). */
function defaultPolicy(object: ApiObject): ApiObject {
  const spec = { ...(object.spec ?? {}) } as { policyTypes?: string[]; egress?: { ports?: { protocol?: string }[] }[]; ingress?: { ports?: { protocol?: string }[] }[] };
  if (!spec.policyTypes || spec.policyTypes.length === 0) spec.policyTypes = spec.egress && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  const withProtocol = (rules?: { ports?: { protocol?: string }[] }[]) =>
    rules?.map((r) => ({ ...r, ...(r.ports ? { ports: r.ports.map((p) => ({ protocol: 'TCP', ...p })) } : {}) }));
  if (spec.ingress) spec.ingress = withProtocol(spec.ingress)!;
  if (spec.egress) spec.egress = withProtocol(spec.egress)!;
  return { ...object, spec };
}

export class ApiServerDouble {
  private rv = 1;
  private compactedBefore = 0;
  private readonly objects: Record<Kind, Map<string, ApiObject>> = { Pod: new Map(), Namespace: new Map(), NetworkPolicy: new Map() };
  private readonly history: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private server: Server | null = null;
  private port = 0;
  private down = false;
  private readonly dir = mkdtempSync(join(tmpdir(), 'nftpol-api-'));
  /** Requests served, by "METHOD path?query" (for tests that check what an agent asks). */
  readonly requests: string[] = [];

  private host = '127.0.0.1';

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** The current resourceVersion (of the last write). */
  get resourceVersion(): number {
    return this.rv;
  }

  /** A kubeconfig file pointing at this server. */
  get kubeconfig(): string {
    const file = join(this.dir, 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: double, cluster: {server: "' + this.url + '", insecure-skip-tls-verify: true}}]',
        'users: [{name: agent, user: {token: test}}]',
        'contexts: [{name: double, context: {cluster: double, user: agent}}]',
        'current-context: double',
        '',
      ].join('\n'),
    );
    return file;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<void> {
    this.host = host;
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, host, () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.dropWatches();
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // Before waiting: close() stops new connections but not a client's keep-alive one, on which an agent
    // can start a new watch after dropWatches(); close() would then wait for it forever.
    this.server?.closeAllConnections();
    await closed;
    this.server = null;
  }

  /** Stops and starts again on the same port; objects and resourceVersions survive, as with etcd. */
  async restart(): Promise<void> {
    const port = this.port;
    await this.stop();
    await this.start(port, this.host);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** While down, every request fails with 503 and watches are dropped. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.dropWatches();
  }

  dropWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Forgets history: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedBefore = this.rv;
    this.history.length = 0;
  }

  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      this.send(w.res, { type: 'BOOKMARK', object: { kind: w.kind, apiVersion: API_VERSION[w.kind], metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Creates or replaces an object (same namespace/name = replace, as kubectl apply). */
  apply(kind: Kind, object: ApiObject): ApiObject {
    let stored: ApiObject = { ...object, apiVersion: API_VERSION[kind], kind };
    if (kind !== 'Namespace') stored.metadata = { ...stored.metadata, namespace: stored.metadata?.namespace ?? 'default' };
    if (kind === 'Namespace') stored.metadata = { ...stored.metadata, labels: { ...stored.metadata?.labels, 'kubernetes.io/metadata.name': stored.metadata!.name! } };
    if (kind === 'NetworkPolicy') stored = defaultPolicy(stored);
    const key = keyOf(stored);
    const type = this.objects[kind].has(key) ? 'MODIFIED' : 'ADDED';
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.rv) };
    this.objects[kind].set(key, stored);
    this.emit({ rv: this.rv, kind, type, object: stored });
    return stored;
  }

  delete(kind: Kind, namespace: string, name: string): void {
    const key = `${kind === 'Namespace' ? '' : namespace}/${name}`;
    const object = this.objects[kind].get(key);
    if (!object) return;
    this.objects[kind].delete(key);
    const gone = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    this.emit({ rv: this.rv, kind, type: 'DELETED', object: gone });
  }

  get(kind: Kind, namespace: string, name: string): ApiObject | undefined {
    return this.objects[kind].get(`${kind === 'Namespace' ? '' : namespace}/${name}`);
  }

  private emit(event: Event): void {
    this.history.push(event);
    for (const w of this.watchers) if (w.kind === event.kind) this.send(w.res, { type: event.type, object: event.object });
  }

  private send(res: ServerResponse, event: unknown): void {
    res.write(`${JSON.stringify(event)}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (this.down) {
      res.writeHead(503).end();
      return;
    }
    const kind = PATHS[url.pathname];
    if (req.method !== 'GET' || !kind) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404 }));
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      // Pagination as the API server does it: `limit`, and `continue` (here: the offset and the list's resourceVersion).
      const all = [...this.objects[kind].values()];
      const limit = Number(url.searchParams.get('limit') ?? '0') || all.length;
      const [offsetText, listVersion] = (url.searchParams.get('continue') ?? `0:${this.rv}`).split(':');
      const offset = Number(offsetText);
      const next = offset + limit < all.length ? `${offset + limit}:${listVersion}` : undefined;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ kind: `${kind}List`, apiVersion: API_VERSION[kind], metadata: { resourceVersion: listVersion, ...(next ? { continue: next } : {}) }, items: all.slice(offset, offset + limit) }),
      );
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (from < this.compactedBefore) {
      this.send(res, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from}` } });
      res.end();
      return;
    }
    for (const event of this.history) if (event.kind === kind && event.rv > from) this.send(res, { type: event.type, object: event.object });
    const watcher: Watcher = { kind, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }
}
