// nftpol agent: watches Pods, Namespaces and NetworkPolicies, keeps the node's nftables table equal to what
// the policies say, and serves /metrics, /healthz and /readyz. Faults never end the process: nft failures,
// bad objects and API outages are logged, counted and retried, and the last good state stays enforced.
import { createServer, type Server } from 'node:http';
import { PolicyEngine } from '../engine/engine.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../model/limits.js';
import { denyCounterName } from '../nft/compile.js';
import { Dataplane } from '../nft/dataplane.js';
import type { DenyAction } from '../nft/compile.js';
import type { NftRunner } from '../nft/executor.js';
import { WATCHED_KINDS, type WatchedKind } from '../watch/kube.js';
import { DEFAULT_BACKOFF, Reflector, type BackoffOptions, type ListerWatcher } from '../watch/reflector.js';
import { feedHandler } from './feed.js';
import { bridgeBypass, type BridgeFacts } from './hostcheck.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Reconciler } from './reconciler.js';

export const VERSION = '0.1.0';

export interface AgentConfig {
  readonly nodeName: string;
  readonly table: string;
  readonly denyAction: DenyAction;
  readonly listenHost: string;
  /** 0 picks a free port (tests). */
  readonly listenPort: number;
  readonly fullResyncPeriodMs: number;
  /** How long the API server may be unreachable before /readyz fails (enforcement goes on regardless). */
  readonly apiUnreachableGraceMs: number;
  readonly backoff?: BackoffOptions;
  /** What one NetworkPolicy may cost (model/limits.ts); DEFAULT_POLICY_LIMITS when absent. */
  readonly policyLimits?: PolicyLimits;
}

export interface AgentDeps {
  readonly sources: Record<WatchedKind, ListerWatcher>;
  readonly runner: NftRunner;
  readonly log: Logger;
  /** Facts about bridged pod traffic (minikube --cni=bridge); checked at start and at every full resync. */
  readonly bridgeFacts?: () => Promise<BridgeFacts>;
}

export class Agent {
  readonly engine: PolicyEngine;
  readonly dataplane: Dataplane;
  readonly reconciler: Reconciler;
  readonly metrics: Metrics;
  private readonly reflectors: Reflector[];
  private readonly synced = new Set<WatchedKind>();
  /** Since when the API server has been failing, or null while it answers. */
  private apiFailingSince: number | null = null;
  private server: Server | null = null;
  private hostCheckTimer: NodeJS.Timeout | null = null;
  private bridgeWarning: string | null = null;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.engine = new PolicyEngine(config.nodeName);
    this.dataplane = new Dataplane(this.engine, deps.runner, { table: config.table, denyAction: config.denyAction });
    this.metrics = createMetrics(() => this.collectDenied());
    this.metrics.buildInfo.set({ version: VERSION, node: config.nodeName }, 1);
    this.reconciler = new Reconciler(this.engine, this.dataplane, deps.runner, this.metrics, deps.log, {
      table: config.table,
      fullResyncPeriodMs: config.fullResyncPeriodMs,
      backoff: config.backoff ?? { initialMs: 500, maxMs: 30_000 },
      versions: () => Object.fromEntries(this.reflectors.map((r) => [r.kind, r.version])),
    });
    this.reflectors = WATCHED_KINDS.map((kind) => {
      const handler = feedHandler(kind, this.engine, deps.log, this.metrics, config.policyLimits ?? DEFAULT_POLICY_LIMITS, {
        changed: () => {
          this.apiFailingSince = null;
          this.reconciler.changed();
        },
        synced: (k) => this.onSynced(k),
        watchError: (k, phase, error) => {
          this.apiFailingSince ??= Date.now();
          deps.log.warn('API list/watch failed; retrying with backoff, enforcing the last known state', { kind: k, phase, error: error instanceof Error ? error.message : String(error) });
        },
      });
      const reflector = new Reflector(kind, deps.sources[kind], { ...handler, connected: () => (this.apiFailingSince = null) }, config.backoff ?? DEFAULT_BACKOFF);
      return reflector;
    });
  }

  private onSynced(kind: WatchedKind): void {
    this.apiFailingSince = null;
    for (const reflector of this.reflectors) this.metrics.watchedObjects.set({ kind: reflector.kind }, reflector.size);
    if (this.synced.has(kind)) return;
    this.synced.add(kind);
    this.deps.log.info('informer synced', { kind, objects: this.reflectors.find((r) => r.kind === kind)?.size });
    // Until every kind is listed, a table from an earlier run keeps enforcing: a first sync now could open
    // traffic that policies not yet seen would close.
    if (this.synced.size === WATCHED_KINDS.length) this.reconciler.start();
  }

  /** Ready: informers synced, the first full sync applied, the last sync good, the API reachable (with grace). */
  ready(): { ready: boolean; reason: string } {
    if (this.synced.size < WATCHED_KINDS.length) return { ready: false, reason: 'informers not synced' };
    if (!this.reconciler.firstSyncDone) return { ready: false, reason: 'first sync not applied' };
    if (!this.reconciler.lastSyncOk) return { ready: false, reason: 'last sync failed' };
    if (this.apiFailingSince !== null && Date.now() - this.apiFailingSince > this.config.apiUnreachableGraceMs) {
      return { ready: false, reason: 'API server unreachable beyond the grace period' };
    }
    return { ready: true, reason: 'ok' };
  }

  /** The address /metrics and the probes listen on (after start). */
  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const { ready, reason } = this.ready();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${reason}\n`);
      } else if (path === '/metrics') {
        this.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
          (error: unknown) => res.writeHead(500).end(String(error)),
        );
      } else {
        res.writeHead(404).end('not found: try /metrics, /healthz, /readyz\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.listenPort, this.config.listenHost, () => resolve());
    });
    this.deps.log.info('agent started', { node: this.config.nodeName, table: this.config.table, listen: `${this.config.listenHost}:${this.port}`, version: VERSION });
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
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.deps.log.info('agent stopped; the nftpol table stays in place');
  }

  /** At scrape time: the deny counters of the local pods. */
  private async collectDenied(): Promise<void> {
    if (!this.deps.runner.listCounters) return;
    const counters = await this.deps.runner.listCounters(this.config.table);
    this.metrics.deniedPackets.reset();
    for (const key of this.engine.localPods().keys()) {
      const [namespace, pod] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
      for (const direction of ['ingress', 'egress'] as const) {
        const packets = counters.get(denyCounterName(direction, key));
        if (packets !== undefined) this.metrics.deniedPackets.set({ namespace, pod, direction }, packets);
      }
    }
  }
}
