// The reconcile loop: events mark the engine dirty, and a coalescing loop turns whatever accumulated into
// one transaction. Never more than one transaction in flight; no sleep when quiet (a sync starts on the
// next turn of the event loop); bursts batch themselves while a sync runs. A failed sync is retried with
// backoff (src/watch/backoff.ts, the reflectors' too) and the retry is a full sync. A periodic full resync
// repairs drift. The reconciler talks to the dataplane only (never to nft itself), and reads time from an
// injected clock, so that its tests advance time instead of sleeping.
import type { PodAllow } from '../engine/allowset.js';
import type { PolicyEngine } from '../engine/engine.js';
import type { PeerSetDef } from '../engine/peerset.js';
import type { ObjectKey } from '../model/types.js';
import type { Dataplane } from '../nft/dataplane.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from '../watch/backoff.js';
import { systemClock, type Clock, type TimerHandle } from '../watch/clock.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface ReconcilerOptions {
  readonly table: string;
  readonly fullResyncPeriodMs: number;
  /** Between failed syncs (default: the agent's one default, DEFAULT_BACKOFF). */
  readonly backoff?: BackoffOptions;
  /** Time and timers (default: the system's). */
  readonly clock?: Clock;
  /** The resourceVersion each watch had reached, logged with each sync (so a caller can tell a write is enforced). */
  readonly versions?: () => Record<string, string>;
  /** Called after each successful sync that changed the table (strict mode ends what it now denies). */
  readonly afterSync?: () => void;
  /**
   * The namespaces (lanes of the event queue, fairqueue.ts) with events not yet applied, each with the
   * versions it has reached, and the versions every other namespace has reached; null when none or too
   * many. Logged with a sync: while one namespace's policies wait (pacing), the others can still tell
   * that their writes are enforced.
   */
  readonly waiting?: () => { readonly lanes: Record<string, Record<string, string>>; readonly versions: Record<string, string> } | null;
  /** Told when a sync takes the engine's changes and when it ends, with its duration (the queue's pacing). */
  readonly pacing?: { syncStarting(costlyNamespaces: Iterable<string>): void; syncFinished(durationMs: number): void };
}

/**
 * Above this many rules and set ranges in a changed local pod's allow-set, its namespace's sync is costly
 * (about 1,000 lines of nft): an ordinary pod has tens. The namespace is then paced (fairqueue.ts).
 */
export const COSTLY_PROGRAMMING_WEIGHT = 256;

/** Rules, peers and ipBlock exceptions in a pod's allow-set: roughly the nft lines its chains and sets take. */
export function programmingWeight(allow: PodAllow, peerDef: (id: string) => PeerSetDef | undefined): number {
  let weight = 0;
  for (const direction of [allow.ingress, allow.egress]) {
    for (const rule of direction.rules) {
      weight += 1 + rule.namedPortSets.length;
      if (rule.peers === 'all') continue;
      for (const id of rule.peers) {
        const def = peerDef(id);
        weight += 1 + (def?.kind === 'ipBlock' ? def.except.length : 0);
      }
    }
  }
  return weight;
}

/** The namespaces of changed local pods whose allow-sets are costly to program. */
function costlyNamespaces(engine: PolicyEngine, localPods: Iterable<ObjectKey>): Set<string> {
  const namespaces = new Set<string>();
  const peerDef = (id: string) => engine.peerSetDef(id);
  for (const pod of localPods) {
    const namespace = pod.slice(0, pod.indexOf('/'));
    if (namespaces.has(namespace)) continue;
    const allow = engine.localPods().get(pod);
    if (allow && programmingWeight(allow, peerDef) >= COSTLY_PROGRAMMING_WEIGHT) namespaces.add(namespace);
  }
  return namespaces;
}

export class Reconciler {
  private started = false;
  private dirty = false;
  private kickScheduled = false;
  private inFlight: Promise<void> | null = null;
  /** When the agent received the oldest change not yet enforced (for the programming latency). */
  private pendingSince: bigint | null = null;
  private failures = 0;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private retryTimer: TimerHandle | null = null;
  private resyncTimer: TimerHandle | null = null;
  private stopping = false;
  /** The first full sync has applied. */
  firstSyncDone = false;
  /** The last attempt succeeded. */
  lastSyncOk = false;
  /** Transactions run (for tests and logs). */
  syncs = 0;

  constructor(
    private readonly engine: PolicyEngine,
    private readonly dataplane: Dataplane,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly options: ReconcilerOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF, () => this.clock.now());
  }

  /**
   * Something changed in the engine. `receivedAt` (the clock's hrtime) is when the agent received the
   * event that changed it, before normalizing it and updating the engine: the programming latency starts
   * there, so that time spent behind other work shows in it. The earliest pending receipt is kept.
   */
  changed(receivedAt: bigint = this.clock.hrtime()): void {
    if (this.pendingSince === null || receivedAt < this.pendingSince) this.pendingSince = receivedAt;
    this.dirty = true;
    // On the next turn, not inside the caller: the event queue times each object it applies (pacing), and
    // planning a sync that also carries another namespace's changes must not count against this one.
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.kick();
    });
  }

  /** Begins syncing (after the informers' first lists) and the periodic resync. */
  start(): void {
    this.started = true;
    this.dirty = true;
    this.kick();
    this.scheduleResync();
  }

  private scheduleResync(): void {
    this.resyncTimer = this.clock.setTimeout(
      () => {
        this.scheduleResync();
        void this.resync();
      },
      this.options.fullResyncPeriodMs,
      { unref: true },
    );
  }

  /** Checks the table is still there, then rewrites it whole (repairs anything someone changed). */
  async resync(): Promise<void> {
    if (!this.firstSyncDone) return;
    try {
      if (!(await this.dataplane.tablePresent())) {
        this.metrics.driftRepairs.inc();
        this.log.warn('nftpol table missing (flushed by someone?); rewriting it', { table: this.options.table });
      }
    } catch (error) {
      this.log.warn('could not read the nftpol table back; rewriting it anyway', { error: String(error) });
    }
    this.dataplane.requestFullSync();
    this.dirty = true;
    this.kick();
  }

  private kick(): void {
    if (!this.started || this.stopping || this.inFlight !== null || this.retryTimer !== null || !this.dirty) return;
    this.inFlight = this.syncOnce().finally(() => {
      this.inFlight = null;
      if (this.dirty) setImmediate(() => this.kick());
    });
  }

  private async syncOnce(): Promise<void> {
    this.dirty = false;
    const since = this.pendingSince;
    this.pendingSince = null;
    const mode = this.dataplane.committedState === null ? 'full' : 'partial';
    const started = this.clock.hrtime();
    const versions = this.options.versions?.();
    const waiting = this.options.waiting?.();
    const changes = this.engine.takeChanges();
    this.options.pacing?.syncStarting(costlyNamespaces(this.engine, changes.localPods));
    this.syncs++;
    try {
      const result = await this.dataplane.sync(changes);
      this.metrics.syncDuration.observe({ mode: result.mode }, result.durationMs / 1000);
      this.metrics.lastSuccess.set(this.clock.now() / 1000);
      const latencyMs = since === null ? undefined : Number(this.clock.hrtime() - since) / 1e6;
      if (latencyMs !== undefined) this.metrics.programmingLatency.observe(latencyMs / 1000);
      this.updateGauges();
      this.failures = 0;
      // Unlike a list that a 410 can follow at once, a sync that succeeded proves nft and the table work:
      // the next failure starts again at the first delay.
      this.backoff.reset();
      this.lastSyncOk = true;
      this.firstSyncDone ||= result.mode === 'full';
      if (result.lines > 0) this.options.afterSync?.();
      this.log.info('sync', {
        mode: result.mode,
        lines: result.lines,
        durationMs: Number(result.durationMs.toFixed(2)),
        nftMs: Number(result.nftMs.toFixed(2)),
        // From the oldest change this sync enforces to its commit.
        ...(latencyMs !== undefined ? { latencyMs: Number(latencyMs.toFixed(2)) } : {}),
        ...(versions ? { versions } : {}),
        ...(waiting ? { waitingNamespaces: waiting.lanes, versionsOtherNamespaces: waiting.versions } : {}),
      });
      this.options.pacing?.syncFinished(Number(this.clock.hrtime() - started) / 1e6);
    } catch (error) {
      this.options.pacing?.syncFinished(Number(this.clock.hrtime() - started) / 1e6);
      this.failures++;
      this.lastSyncOk = false;
      this.metrics.syncFailures.inc({ mode });
      // What this sync held is not enforced yet: it stays pending (from its earliest receipt), and the
      // retry is a full sync.
      if (since !== null && (this.pendingSince === null || since < this.pendingSince)) this.pendingSince = since;
      this.dirty = true;
      const delay = this.backoff.next();
      this.log.error('sync failed; retrying with a full sync', { mode, error: error instanceof Error ? error.message : String(error), retryInMs: delay, failures: this.failures });
      this.retryTimer = this.clock.setTimeout(() => {
        this.retryTimer = null;
        this.kick();
      }, delay);
    }
  }

  private updateGauges(): void {
    const counts = { none: 0, ingress: 0, egress: 0, both: 0 };
    for (const allow of this.engine.localPods().values()) {
      const key = allow.ingress.isolated ? (allow.egress.isolated ? 'both' : 'ingress') : allow.egress.isolated ? 'egress' : 'none';
      counts[key]++;
    }
    for (const [isolation, n] of Object.entries(counts)) this.metrics.localPods.set({ isolation }, n);
    const state = this.dataplane.committedState;
    if (!state) return;
    let elements = 0;
    for (const set of state.sets.values()) elements += set.elements.size;
    this.metrics.nftSetElements.set(elements);
    this.metrics.nftSets.set(state.sets.size);
    this.metrics.nftChains.set(state.chains.size);
  }

  /** Stops scheduling; finishes the sync in flight (the rules stay in place). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer !== null) this.clock.clearTimeout(this.retryTimer);
    if (this.resyncTimer !== null) this.clock.clearTimeout(this.resyncTimer);
    await this.inFlight;
  }
}
