// Prometheus metrics, named after kube-proxy's conventions with the prefix nftpol_. Pod and namespace
// labels appear only on the per-local-pod deny counters, bounded by the pods of one node.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly syncDuration: Histogram<'mode'>;
  readonly syncFailures: Counter<'mode'>;
  readonly lastSuccess: Gauge;
  readonly programmingLatency: Histogram;
  readonly watchedObjects: Gauge<'kind'>;
  readonly watchErrors: Counter<'kind' | 'phase'>;
  readonly watchFailures: Counter<'kind' | 'reason'>;
  readonly rejectedObjects: Counter<'kind'>;
  readonly localPods: Gauge<'isolation'>;
  readonly nftSetElements: Gauge;
  readonly nftSets: Gauge;
  readonly nftChains: Gauge;
  readonly driftRepairs: Counter;
  readonly deniedPackets: Counter<'namespace' | 'pod' | 'direction'>;
  readonly counterReads: Counter<'result'>;
  readonly buildInfo: Gauge<'version' | 'node'>;
  readonly bridgedUnfiltered: Gauge;
  readonly eventQueueLength: Gauge;
  readonly eventsCoalesced: Counter;
  readonly policyLimitExceeded: Counter<'namespace' | 'limit'>;
  readonly ready: Gauge;
}

const SYNC_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

/** What the registry asks the agent at scrape time. */
export interface MetricsCollectors {
  /** Sets the deny counters from the nft counters as last read. */
  readonly denied?: () => Promise<void>;
  /** Whether /readyz would answer 200 now. */
  readonly ready?: () => boolean;
  /** How many objects of each kind the agent knows now (events change it between relists). */
  readonly watched?: () => Iterable<readonly [kind: string, objects: number]>;
}

export function createMetrics(collectors: MetricsCollectors = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nftpol_' });
  const reg = { registers: [registry] };
  return {
    registry,
    syncDuration: new Histogram({ name: 'nftpol_sync_duration_seconds', help: 'Time to compute and apply one nftables transaction, by mode (full, partial).', labelNames: ['mode'], buckets: SYNC_BUCKETS, ...reg }),
    syncFailures: new Counter({ name: 'nftpol_sync_failures_total', help: 'nftables transactions that failed (nothing was applied; the next sync is full).', labelNames: ['mode'], ...reg }),
    lastSuccess: new Gauge({ name: 'nftpol_sync_last_success_timestamp_seconds', help: 'Unix time of the last successful sync.', ...reg }),
    programmingLatency: new Histogram({ name: 'nftpol_network_programming_duration_seconds', help: 'From the moment the agent received a change to the commit that enforces it.', buckets: SYNC_BUCKETS, ...reg }),
    watchedObjects: new Gauge({
      name: 'nftpol_watched_objects',
      help: 'Objects the agent knows, by kind.',
      labelNames: ['kind'],
      ...reg,
      ...(collectors.watched ? { collect(this: Gauge<'kind'>) { for (const [kind, objects] of collectors.watched!()) this.set({ kind }, objects); } } : {}),
    }),
    watchErrors: new Counter({ name: 'nftpol_watch_errors_total', help: 'Failed lists and broken watches, by kind and phase (retried with backoff).', labelNames: ['kind', 'phase'], ...reg }),
    watchFailures: new Counter({
      name: 'nftpol_watch_failures_total',
      help: 'Lists and watches that failed, by kind and reason (list_failed, watch_failed, expired, error_event, broken, closed_early, stalled); each is retried after a backoff.',
      labelNames: ['kind', 'reason'],
      ...reg,
    }),
    rejectedObjects: new Counter({ name: 'nftpol_rejected_objects_total', help: 'Objects (or policy rules) the engine rejected; access never widens because of them.', labelNames: ['kind'], ...reg }),
    localPods: new Gauge({ name: 'nftpol_local_pods', help: 'Pods on this node, by isolation (none, ingress, egress, both).', labelNames: ['isolation'], ...reg }),
    nftSetElements: new Gauge({ name: 'nftpol_nft_set_elements', help: 'Elements in the sets of the nftpol table.', ...reg }),
    nftSets: new Gauge({ name: 'nftpol_nft_sets', help: 'Sets in the nftpol table.', ...reg }),
    nftChains: new Gauge({ name: 'nftpol_nft_chains', help: 'Policy chains in the nftpol table.', ...reg }),
    driftRepairs: new Counter({ name: 'nftpol_drift_repairs_total', help: 'Periodic resyncs that found the nftpol table missing or changed and rewrote it.', ...reg }),
    // A counter in Prometheus' sense: it only grows, except that it restarts at zero when a full sync
    // recreates the table, which rate() and increase() take for a counter reset.
    deniedPackets: new Counter({
      name: 'nftpol_denied_packets_total',
      help: 'Packets denied by policy per local pod and direction (nft counters; they restart at zero when the table is recreated).',
      labelNames: ['namespace', 'pod', 'direction'],
      ...reg,
      ...(collectors.denied ? { collect: collectors.denied } : {}),
    }),
    counterReads: new Counter({ name: 'nftpol_nft_counter_reads_total', help: 'Reads of the nft deny counters for /metrics (at most one per --counter-read-interval, however many scrapers), by result (ok, error).', labelNames: ['result'], ...reg }),
    buildInfo: new Gauge({ name: 'nftpol_build_info', help: 'Always 1; labels carry the version and the node.', labelNames: ['version', 'node'], ...reg }),
    policyLimitExceeded: new Counter({
      name: 'nftpol_policy_limit_exceeded_total',
      help: 'NetworkPolicy versions over a cost limit (the limit is the flag that sets it): their rules beyond it allow nothing, or, over it in the podSelector, the version is rejected.',
      labelNames: ['namespace', 'limit'],
      ...reg,
    }),
    bridgedUnfiltered: new Gauge({ name: 'nftpol_bridged_traffic_unfiltered', help: '1 when pods on this node share a Linux bridge whose traffic bypasses nftpol (br_netfilter off); see the agent log.', ...reg }),
    eventQueueLength: new Gauge({ name: 'nftpol_event_queue_length', help: 'Watch events received and not yet applied to the engine (one per object at most).', ...reg }),
    eventsCoalesced: new Counter({ name: 'nftpol_events_coalesced_total', help: 'Watch events that replaced an older event of the same object before it was applied.', ...reg }),
    ready: new Gauge({
      name: 'nftpol_ready',
      help: '1 when the agent is ready (/readyz answers 200): informers synced, first sync applied, last sync good, API server reachable within the grace.',
      ...reg,
      ...(collectors.ready ? { collect(this: Gauge) { this.set(collectors.ready!() ? 1 : 0); } } : {}),
    }),
  };
}
