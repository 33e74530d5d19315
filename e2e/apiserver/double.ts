// A Kubernetes API server double, written for nftpol's tests and sandbox cluster. It is a test tool, not a
// server anyone should run. Over plain HTTP it serves:
// - list and watch of Pods, Namespaces and NetworkPolicies, with resourceVersions, watch bookmarks and
//   `410 Gone` for a resourceVersion older than the last compaction;
// - the API server's own behaviour where agents rely on it: `kubernetes.io/metadata.name` on namespaces,
//   NetworkPolicy defaulting (policyTypes, protocol TCP);
// - a bookmark to every watch that asked for them, once a minute by default (the API server's watch cache
//   does the same), so that a silent watch is a fault and not a quiet kind;
// - fault injection: drop every watch, stop answering (down/up), restart on the same port, compact, and
//   the faults of setWatchFault/setListFault (ERROR events of any code, 410, watches that end at once,
//   send nothing, or half an event; failing lists).
// Objects are created, replaced and deleted through methods (tests) rather than HTTP writes. The only file
// it writes is the kubeconfig, in a temporary directory that destroy() removes.
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

/**
 * What every new watch gets instead of events, while set:
 * - `error`: an ERROR event with this code (410: "too old resource version"), then the end of the stream;
 * - `close`: the end of the stream at once, without any event;
 * - `silent`: the answer's headers, then nothing, for ever;
 * - `half`: the first half of an event, then nothing, for ever.
 */
export type WatchFault = { readonly type: 'error'; readonly code: number } | { readonly type: 'close' } | { readonly type: 'silent' } | { readonly type: 'half' };

export interface ApiServerDoubleOptions {
  /** How often every watch that asked for bookmarks gets one (0: never). Default 60 s, as the API server. */
  readonly bookmarkIntervalMs?: number;
}

const REASONS: Record<number, string> = { 400: 'BadRequest', 403: 'Forbidden', 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable' };

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
  /** Created with the first kubeconfig, removed by destroy(). */
  private dir: string | null = null;
  private bookmarkTimer: NodeJS.Timeout | null = null;
  private watchFault: { readonly fault: WatchFault; readonly kinds: ReadonlySet<Kind> } | null = null;
  private listFault: { readonly code: number; readonly kinds: ReadonlySet<Kind> } | null = null;
  private readonly bookmarkIntervalMs: number;
  /** Requests served, by "METHOD path?query" (for tests that check what an agent asks). */
  readonly requests: string[] = [];

  private host = '127.0.0.1';

  constructor(options: ApiServerDoubleOptions = {}) {
    this.bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** The current resourceVersion (of the last write). */
  get resourceVersion(): number {
    return this.rv;
  }

  /** A kubeconfig file pointing at this server. */
  get kubeconfig(): string {
    this.dir ??= mkdtempSync(join(tmpdir(), 'nftpol-api-'));
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
    if (this.bookmarkIntervalMs > 0) {
      this.bookmarkTimer = setInterval(() => this.bookmark(), this.bookmarkIntervalMs);
      this.bookmarkTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    this.bookmarkTimer = null;
    this.dropWatches();
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // close() waits for every connection to end; kept-alive and stalled ones would hold it for good.
    server.closeAllConnections();
    await closed;
  }

  /** Stops and starts again on the same port; objects and resourceVersions survive, as with etcd. */
  async restart(): Promise<void> {
    const port = this.port;
    await this.stop();
    await this.start(port, this.host);
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  /**
   * From now on every watch (of these kinds; default all) gets this fault instead of events; the watches
   * open now end, so that their clients come back into it. Null ends the fault.
   */
  setWatchFault(fault: WatchFault | null, kinds: readonly Kind[] = ['Pod', 'Namespace', 'NetworkPolicy']): void {
    this.watchFault = fault ? { fault, kinds: new Set(kinds) } : null;
    if (!fault) return;
    for (const w of this.watchers) {
      if (!kinds.includes(w.kind)) continue;
      w.res.end();
      this.watchers.delete(w);
    }
  }

  /** Every list (of these kinds; default all) fails with this HTTP status and a Status body; null ends it. */
  setListFault(code: number | null, kinds: readonly Kind[] = ['Pod', 'Namespace', 'NetworkPolicy']): void {
    this.listFault = code === null ? null : { code, kinds: new Set(kinds) };
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
      if (this.listFault?.kinds.has(kind)) {
        const code = this.listFault.code;
        res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(this.status(code, `injected list failure ${code}`)));
        return;
      }
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
      this.send(res, { type: 'ERROR', object: this.status(410, `too old resource version: ${from}`) });
      res.end();
      return;
    }
    if (this.watchFault?.kinds.has(kind)) {
      this.injectWatchFault(this.watchFault.fault, from, res);
      return;
    }
    for (const event of this.history) if (event.kind === kind && event.rv > from) this.send(res, { type: event.type, object: event.object });
    const watcher: Watcher = { kind, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  private injectWatchFault(fault: WatchFault, from: number, res: ServerResponse): void {
    switch (fault.type) {
      case 'error':
        this.send(res, { type: 'ERROR', object: this.status(fault.code, fault.code === 410 ? `too old resource version: ${from}` : `injected watch error ${fault.code}`) });
        res.end();
        return;
      case 'close':
        res.end();
        return;
      case 'silent':
        res.flushHeaders();
        return;
      case 'half':
        res.write('{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"hal');
        return;
    }
  }

  private status(code: number, message: string): Record<string, unknown> {
    return { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: REASONS[code] ?? 'Unknown', code, message };
  }
}
