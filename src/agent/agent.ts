// nftpol agent: watches Pods, Namespaces and NetworkPolicies, keeps the node's nftables table equal to what
// the policies say, and serves /metrics, /healthz and /readyz. Faults never end the process: nft failures,
// bad objects and API outages are logged, counted and retried, and the last good state stays enforced.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PolicyEngine } from '../engine/engine.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../model/limits.js';
import { denyCounterName } from '../nft/compile.js';
import { Dataplane } from '../nft/dataplane.js';
import type { DenyAction } from '../nft/compile.js';
import type { NftRunner } from '../nft/executor.js';
import { WATCHED_KINDS, type WatchedKind } from '../watch/kube.js';
import type { Clock } from '../watch/clock.js';
import { DEFAULT_BACKOFF, Reflector, type BackoffOptions, type ListerWatcher, type WatchFailure } from '../watch/reflector.js';
import { FairQueue } from './fairqueue.js';
import type { DenyLogOptions } from '../nft/denylog.js';
import { conntrackCommand, type Conntrack } from './conntrack.js';
import { startDenyLog, type DenyLogRuntime, type NflogListen } from './denylog-agent.js';
import { feedHandler } from './feed.js';
import { bridgeBypass, type BridgeFacts } from './hostcheck.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Reconciler } from './reconciler.js';
import { SharedRead } from './shared-read.js';
import { StrictMode, strictMetrics } from './strict.js';

export const VERSION = '0.1.0';

/** Where an HTTP server listens; port 0 picks a free port (tests). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface AgentConfig {
  readonly nodeName: string;
  readonly table: string;
  readonly denyAction: DenyAction;
  /** /metrics, for Prometheus: reachable from the network (kube-proxy's --metrics-bind-address). */
  readonly metricsAddress: ListenAddress;
  /**
   * /healthz and /readyz, for the kubelet's probes, which a hostNetwork pod gets on the node's own
   * loopback (kube-proxy's --healthz-bind-address). The same address as metricsAddress (not port 0):
   * one server serves all three.
   */
  readonly healthzAddress: ListenAddress;
  readonly fullResyncPeriodMs: number;
  /** How long a kind's list and watch may keep failing before /readyz fails (enforcement goes on regardless). */
  readonly apiUnreachableGraceMs: number;
  readonly backoff?: BackoffOptions;
  /** At most one read of the nft deny counters per this many ms, however many scrapers (default 10 s). */
  readonly counterReadIntervalMs?: number;
  /** A watch without any event or bookmark for this long is aborted and counted as stalled. */
  readonly watchStallTimeoutMs?: number;
  /** What one NetworkPolicy may cost (model/limits.ts); DEFAULT_POLICY_LIMITS when absent. */
  readonly policyLimits?: PolicyLimits;
  /** After each sync that changed the table, end the open connections it now denies (strict.ts). */
  readonly strictMode?: boolean;
  /** Log denied connections (denylog.ts); off when absent. */
  readonly denyLog?: DenyLogOptions;
}

export const DEFAULT_COUNTER_READ_INTERVAL_MS = 10_000;
/** A scrape waits this long at most for a counter read in flight, then gets the last values read. */
const COUNTER_READ_MAX_WAIT_MS = 2_000;
/**
 * Scrapes within this long of a rendering get the same text: rendering every series takes milliseconds
 * of the event loop that also runs the syncs, and a scraper in a loop must not take all of it.
 */
const EXPOSITION_REUSE_MS = 1_000;

export interface AgentDeps {
  readonly sources: Record<WatchedKind, ListerWatcher>;
  readonly runner: NftRunner;
  readonly log: Logger;
  /** Facts about bridged pod traffic (minikube --cni=bridge); checked at start and at every full resync. */
  readonly bridgeFacts?: () => Promise<BridgeFacts>;
  /** Strict mode's access to connection tracking (default: the conntrack tool). */
  readonly conntrack?: Conntrack;
  /** The denied-connection log's NFLOG listener (default: the Python helper in nflog.ts). */
  readonly nflog?: NflogListen;
  /** Time and timers of the reconcile loop (default: the system's; tests advance a fake one). */
  readonly clock?: Clock;
}

export class Agent {
  readonly engine: PolicyEngine;
  readonly dataplane: Dataplane;
  readonly reconciler: Reconciler;
  readonly metrics: Metrics;
  /** Events between the reflectors and the engine, by namespace (fairqueue.ts). */
  readonly queue: FairQueue;
  private readonly reflectors: Reflector[];
  private readonly synced = new Set<WatchedKind>();
  private servers: { metrics: Server; healthz: Server } | null = null;
  private hostCheckTimer: NodeJS.Timeout | null = null;
  private bridgeWarning: string | null = null;
  private readonly counters: SharedRead<Map<string, number>> | null;
  private readonly exposition: SharedRead<string>;
  readonly strict: StrictMode | null;
  denyLog: DenyLogRuntime | null = null;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.engine = new PolicyEngine(config.nodeName);
    this.dataplane = new Dataplane(this.engine, deps.runner, { table: config.table, denyAction: config.denyAction, ...(config.denyLog ? { denyLog: config.denyLog } : {}), ...(config.strictMode ? { strictMode: true } : {}) });
    const counterInterval = config.counterReadIntervalMs ?? DEFAULT_COUNTER_READ_INTERVAL_MS;
    const listCounters = deps.runner.listCounters?.bind(deps.runner);
    this.counters = listCounters
      ? new SharedRead(() => listCounters(config.table), { intervalMs: counterInterval, maxWaitMs: COUNTER_READ_MAX_WAIT_MS }, (outcome) => {
          this.metrics.counterReads.inc({ result: outcome.ok ? 'ok' : 'error' });
          if (!outcome.ok) deps.log.warn('could not read the nft deny counters; /metrics serves the last values read', { error: String(outcome.error) });
        })
      : null;
    this.metrics = createMetrics({
      denied: () => this.collectDenied(),
      ready: () => this.ready().ready,
      // At scrape time: watch events add and remove objects between relists.
      watched: () => this.reflectors.map((r) => [r.kind, r.size] as const),
    });
    this.exposition = new SharedRead(() => this.metrics.registry.metrics(), { intervalMs: Math.min(EXPOSITION_REUSE_MS, counterInterval), maxWaitMs: 10_000 }, (outcome) => {
      if (!outcome.ok) deps.log.warn('could not render /metrics', { error: String(outcome.error) });
    });
    this.strict = config.strictMode ? new StrictMode(this.engine, deps.conntrack ?? conntrackCommand(), strictMetrics(this.metrics.registry), deps.log) : null;
    this.metrics.buildInfo.set({ version: VERSION, node: config.nodeName }, 1);
    this.reconciler = new Reconciler(this.engine, this.dataplane, this.metrics, deps.log, {
      table: config.table,
      fullResyncPeriodMs: config.fullResyncPeriodMs,
      backoff: config.backoff ?? DEFAULT_BACKOFF,
      ...(deps.clock ? { clock: deps.clock } : {}),
      // What has reached the engine, not only what the reflectors have read: a sync enforces only that.
      versions: () => Object.fromEntries(this.reflectors.map((r) => [r.kind, this.queue.appliedVersion(r.kind, r.version)])),
      ...(this.strict ? { afterSync: () => this.strict!.request() } : {}),
      waiting: () => {
        const lanes = this.queue.waitingLanes(8);
        if (lanes === null || lanes.length === 0) return null;
        const except = new Set(lanes);
        const versions = (lane?: string) => Object.fromEntries(this.reflectors.map((r) => [r.kind, this.queue.appliedVersion(r.kind, r.version, lane === undefined ? except : undefined, lane)]));
        return { lanes: Object.fromEntries(lanes.map((lane) => [lane, versions(lane)])), versions: versions() };
      },
      pacing: { syncStarting: (costly) => this.queue.syncStarting(costly), syncFinished: (ms) => this.queue.syncFinished(ms) },
    });
    this.queue = new FairQueue({
      sliceMs: 10,
      onLength: (length) => this.metrics.eventQueueLength.set(length),
      onCoalesced: () => this.metrics.eventsCoalesced.inc(),
      // A policy at the per-policy limits costs 50-300 ms to apply; an ordinary object well under 1 ms.
      pacing: { costlyCpuMs: 20, paceFactor: 2, maxHoldMs: 10_000 },
      onError: (error, object) => deps.log.error('internal error applying an object; skipped', { object: `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`, error: String(error) }),
    });
    this.reflectors = WATCHED_KINDS.map((kind) => {
      const feed = feedHandler(kind, this.engine, deps.log, this.metrics, config.policyLimits ?? DEFAULT_POLICY_LIMITS, {
        changed: (receivedAt) => this.reconciler.changed(receivedAt),
        synced: (k) => this.onSynced(k),
        watchError: (k, failure) => this.onWatchFailure(k, failure),
      });
      return new Reflector(kind, deps.sources[kind], this.queue.wrap(kind, feed), {
        backoff: config.backoff ?? DEFAULT_BACKOFF,
        ...(config.watchStallTimeoutMs !== undefined ? { stallTimeoutMs: config.watchStallTimeoutMs } : {}),
      });
    });
  }

  /** Every failure is logged; a 410 (then a relist) is routine, the rest is worth a warning. */
  private onWatchFailure(kind: WatchedKind, failure: WatchFailure): void {
    const fields = {
      kind,
      phase: failure.phase,
      reason: failure.reason,
      ...(failure.code !== undefined ? { code: failure.code } : {}),
      retryInMs: failure.retryInMs,
      error: failure.error instanceof Error ? failure.error.message : String(failure.error),
    };
    if (failure.reason === 'expired') this.deps.log.info('watch expired (410 Gone); relisting after the backoff', fields);
    else this.deps.log.warn('API list/watch failed; retrying with backoff, enforcing the last known state', fields);
  }

  private onSynced(kind: WatchedKind): void {
    if (this.synced.has(kind)) {
      // A relist, all of it applied: its resourceVersion is what a sync reports now. Its objects started
      // syncs, but maybe before the list's version was set, and an empty relist started none; without
      // this sync, nothing would report it until the next event of the kind.
      this.reconciler.changed();
      return;
    }
    this.synced.add(kind);
    this.deps.log.info('informer synced', { kind, objects: this.reflectors.find((r) => r.kind === kind)?.size });
    // Until every kind is listed, a table from an earlier run keeps enforcing: a first sync now could open
    // traffic that policies not yet seen would close.
    if (this.synced.size === WATCHED_KINDS.length) {
      this.reconciler.start();
      this.queue.startPacing();
    }
  }

  /**
   * Ready: informers synced, the first full sync applied, the last sync good, and no kind out of sync (its
   * list or watch failing, no event or bookmark since) for longer than the grace.
   */
  ready(): { ready: boolean; reason: string } {
    if (this.synced.size < WATCHED_KINDS.length) return { ready: false, reason: 'informers not synced' };
    if (!this.reconciler.firstSyncDone) return { ready: false, reason: 'first sync not applied' };
    if (!this.reconciler.lastSyncOk) return { ready: false, reason: 'last sync failed' };
    const now = Date.now();
    const stale = this.reflectors.filter((r) => r.failingSince !== null && now - r.failingSince.since > this.config.apiUnreachableGraceMs);
    if (stale.length > 0) {
      const which = stale.map((r) => `${r.kind} (${r.failingSince!.reason})`).join(', ');
      return { ready: false, reason: `API list/watch failing beyond the grace period: ${which}` };
    }
    return { ready: true, reason: 'ok' };
  }

  /** The ports /metrics and the probes listen on (after start; the same when one server serves both). */
  get ports(): { metrics: number; healthz: number } {
    const port = (server: Server | undefined) => {
      const address = server?.address();
      return typeof address === 'object' && address ? address.port : 0;
    };
    return { metrics: port(this.servers?.metrics), healthz: port(this.servers?.healthz) };
  }

  private serveProbes(path: string, res: ServerResponse): boolean {
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const { ready, reason } = this.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${reason}\n`);
    } else {
      return false;
    }
    return true;
  }

  private serveMetrics(path: string, res: ServerResponse): boolean {
    if (path !== '/metrics') return false;
    void this.exposition.get().then((text) =>
      text === undefined ? res.writeHead(503).end('metrics not rendered yet; see the agent log\n') : res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
    );
    return true;
  }

  /** An HTTP server for some of the endpoints; 404 names the ones this address serves. */
  private async listen(address: ListenAddress, routes: ((path: string, res: ServerResponse) => boolean)[], names: string): Promise<Server> {
    const server = createServer((req: IncomingMessage, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!routes.some((route) => route(path, res))) res.writeHead(404).end(`not found: this address serves ${names}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => resolve());
    });
    return server;
  }

  async start(): Promise<void> {
    const { metricsAddress: m, healthzAddress: h } = this.config;
    const probes = (path: string, res: ServerResponse) => this.serveProbes(path, res);
    const metrics = (path: string, res: ServerResponse) => this.serveMetrics(path, res);
    if (m.host === h.host && m.port === h.port && m.port !== 0) {
      const server = await this.listen(m, [metrics, probes], '/metrics, /healthz, /readyz');
      this.servers = { metrics: server, healthz: server };
    } else {
      const healthz = await this.listen(h, [probes], '/healthz, /readyz');
      try {
        this.servers = { metrics: await this.listen(m, [metrics], '/metrics'), healthz };
      } catch (error) {
        healthz.close();
        throw error;
      }
    }
    const { ports } = this;
    this.deps.log.info('agent started', { node: this.config.nodeName, table: this.config.table, metrics: `${m.host}:${ports.metrics}`, healthz: `${h.host}:${ports.healthz}`, version: VERSION });
    if (this.config.denyLog) {
      const counters = this.counters;
      this.denyLog = startDenyLog(this.engine, this.config.denyLog, this.deps.log, this.metrics.registry, counters ? () => counters.get() : null, this.deps.nflog);
      // Not fatal: policies are enforced with or without the log; the listener retries by itself. Nor may
      // a helper that never answers hold up the start.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer from the NFLOG helper within 5 s')), 5_000)));
      await Promise.race([this.denyLog.ready, timeout])
        .catch((error: unknown) => this.deps.log.error('denied-connection log: cannot listen yet; retrying', { error: String(error) }))
        .finally(() => clearTimeout(timer));
    }
    for (const reflector of this.reflectors) reflector.start();
    if (this.deps.bridgeFacts) {
      await this.checkBridges();
      // A bridge CNI creates its bridge with the node's first pod, possibly after the agent started.
      this.hostCheckTimer = setInterval(() => void this.checkBridges(), this.config.fullResyncPeriodMs);
      this.hostCheckTimer.unref();
    }
  }

  /** Warns (once per change) and sets a metric when bridged pod traffic would bypass nftpol. */
  async checkBridges(): Promise<void> {
    let warning: string | null;
    try {
      warning = bridgeBypass(await this.deps.bridgeFacts!());
    } catch (error) {
      this.deps.log.debug('could not check for bridged pod traffic', { error: String(error) });
      return;
    }
    this.metrics.bridgedUnfiltered.set(warning === null ? 0 : 1);
    if (warning !== null && warning !== this.bridgeWarning) this.deps.log.warn(warning);
    if (warning === null && this.bridgeWarning !== null) this.deps.log.info('bridged pod traffic now passes nftpol (br_netfilter on)');
    this.bridgeWarning = warning;
  }

  /** Stops watching, finishes the sync in flight and leaves the rules in place. */
  async stop(): Promise<void> {
    if (this.hostCheckTimer) clearInterval(this.hostCheckTimer);
    for (const reflector of this.reflectors) reflector.stop();
    await this.reconciler.stop();
    this.strict?.stop();
    this.denyLog?.stop();
    const servers = new Set(this.servers ? [this.servers.metrics, this.servers.healthz] : []);
    await Promise.all([...servers].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.deps.log.info('agent stopped; the nftpol table stays in place');
  }

  /** At scrape time: the deny counters of the local pods, as last read (see SharedRead). */
  private async collectDenied(): Promise<void> {
    if (!this.counters) return;
    const counters = await this.counters.get();
    this.metrics.deniedPackets.reset();
    if (!counters) return;
    for (const key of this.engine.localPods().keys()) {
      const [namespace, pod] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      for (const direction of ['ingress', 'egress'] as const) {
        const packets = counters.get(denyCounterName(direction, key));
        // reset() above, so inc() sets the value the kernel counter holds.
        if (packets !== undefined) this.metrics.deniedPackets.inc({ namespace, pod, direction }, packets);
      }
    }
  }
}
