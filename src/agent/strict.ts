// Strict mode (`--strict-mode`): a deny also ends connections that are already open. The table accepts
// established traffic first (`ct state established,related accept`), so a connection outlives a policy
// that now denies it. After every sync that changed the table, the agent lists the node's tracked
// connections, asks the engine whether the table it just committed would still let each one's first
// packet through, and sets nftpol's bit in the conntrack mark of those it would not; the table ends
// every packet of a marked connection, in both directions (../nft/strict.ts says why not deletion).
// Connections the change leaves allowed are not touched.
import { Counter, Histogram, type Registry } from 'prom-client';
import { networkInterfaces } from 'node:os';
import { ruleMatches } from '../engine/decide.js';
import type { PolicyEngine } from '../engine/engine.js';
import { canonicalIp } from '../model/ip.js';
import type { Direction, Protocol } from '../model/types.js';
import { STRICT_CT_MARK } from '../nft/strict.js';
import type { Conntrack, ConntrackEntry } from './conntrack.js';
import type { Logger } from './log.js';

export interface StaleConnection {
  readonly entry: ConntrackEntry;
  /** The side whose policies now deny it (egress of a local source, or ingress of a local destination). */
  readonly direction: Direction;
}

/**
 * The direction whose policies deny a connection now, or null when the table would let its first packet
 * through: egress of the source when it is a local pod, ingress of the destination when it is one (after
 * DNAT: the reply's source), a pod to itself always allowed. Traffic the node itself sends
 * (`nodeAddresses`) takes the output hook, which nftpol leaves alone, so it is never judged by ingress.
 */
export function deniedBy(engine: PolicyEngine, entry: ConntrackEntry, nodeAddresses: ReadonlySet<string>): Direction | null {
  const local = engine.localPods();
  // The engine keys pods by canonical address text; conntrack's spelling of IPv6 may differ.
  const src = canonicalIp(entry.original.src) ?? entry.original.src;
  const dst = canonicalIp(entry.reply.src) ?? entry.reply.src;
  const port = entry.reply.sport;
  const protocol = entry.protocol.toUpperCase() as Protocol;
  const srcPod = engine.ownerOf(src);
  const dstPod = engine.ownerOf(dst);
  if (srcPod !== undefined && srcPod === dstPod) return null;
  const egress = srcPod === undefined ? undefined : local.get(srcPod)?.egress;
  if (egress?.isolated && !egress.rules.some((rule) => ruleMatches(engine, rule, dst, protocol, port))) return 'egress';
  const ingress = dstPod === undefined || nodeAddresses.has(src) ? undefined : local.get(dstPod)?.ingress;
  if (ingress?.isolated && !ingress.rules.some((rule) => ruleMatches(engine, rule, src, protocol, port))) return 'ingress';
  return null;
}

export interface SweepPlan {
  /** Open connections the table now denies: to be marked (ended). */
  readonly stale: readonly StaleConnection[];
  /**
   * Marked connections the table allows again (a deny undone). Their entries are deleted: a UDP flow's
   * packets keep refreshing its entry, so its mark would otherwise block it for as long as it sends.
   * The next packet is new and meets the policies.
   */
  readonly readmitted: readonly ConntrackEntry[];
}

export function sweepPlan(engine: PolicyEngine, entries: readonly ConntrackEntry[], nodeAddresses: ReadonlySet<string>): SweepPlan {
  const stale: StaleConnection[] = [];
  const readmitted: ConntrackEntry[] = [];
  for (const entry of entries) {
    const direction = deniedBy(engine, entry, nodeAddresses);
    const marked = (entry.mark & STRICT_CT_MARK) !== 0;
    if (direction !== null && !marked) stale.push({ entry, direction });
    if (direction === null && marked) readmitted.push(entry);
  }
  return { stale, readmitted };
}

/** The open connections the table now denies and that are not ended yet. */
export function staleConnections(engine: PolicyEngine, entries: readonly ConntrackEntry[], nodeAddresses: ReadonlySet<string>): StaleConnection[] {
  return [...sweepPlan(engine, entries, nodeAddresses).stale];
}

/** The addresses of the network namespace the agent runs in: the node's, for a hostNetwork DaemonSet. */
export function ownAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) addresses.add(a.address.replace(/%.*$/, ''));
  return addresses;
}

export interface StrictMetrics {
  readonly sweeps: Counter<'result'>;
  readonly ended: Counter<'direction'>;
  readonly duration: Histogram;
}

export function strictMetrics(registry: Registry): StrictMetrics {
  const reg = { registers: [registry] };
  return {
    sweeps: new Counter({ name: 'nftpol_strict_sweeps_total', help: 'Strict mode: passes over the conntrack table after a sync, by result (ok, error).', labelNames: ['result'], ...reg }),
    ended: new Counter({ name: 'nftpol_strict_connections_ended_total', help: 'Strict mode: open connections ended because a policy change denies them, by the denying direction.', labelNames: ['direction'], ...reg }),
    duration: new Histogram({ name: 'nftpol_strict_sweep_duration_seconds', help: 'Strict mode: time to list the conntrack table, judge it and delete what is denied.', buckets: Array.from({ length: 12 }, (_, i) => 0.001 * 2 ** i), ...reg }),
  };
}

const RETRY_MS = { initial: 1_000, max: 30_000 };

/** Sweeps after syncs: one at a time, and requests that arrive during a sweep make one more after it. */
export class StrictMode {
  private running: Promise<void> | null = null;
  private again = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly engine: PolicyEngine,
    private readonly conntrack: Conntrack,
    private readonly metrics: StrictMetrics,
    private readonly log: Logger,
    private readonly nodeAddresses: () => ReadonlySet<string> = ownAddresses,
  ) {}

  /** The table changed: sweep now (or right after the sweep in flight). */
  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.running = this.sweep().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.request();
      }
    });
  }

  /** Resolves when no sweep is running or queued (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private async sweep(): Promise<void> {
    const start = process.hrtime.bigint();
    try {
      const entries = await this.conntrack.list();
      const { stale, readmitted } = sweepPlan(this.engine, entries, this.nodeAddresses());
      const marked = stale.length === 0 ? 0 : await this.conntrack.setMark(stale.map((s) => s.entry), STRICT_CT_MARK);
      if (readmitted.length > 0) await this.conntrack.remove(readmitted);
      for (const s of stale) this.metrics.ended.inc({ direction: s.direction });
      this.metrics.sweeps.inc({ result: 'ok' });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      this.metrics.duration.observe(ms / 1000);
      this.failures = 0;
      if (readmitted.length > 0) this.log.info('strict mode: connections allowed again; their ended entries removed', { connections: readmitted.length });
      if (stale.length > 0) this.log.info('strict mode: ended connections a policy change denies', { connections: stale.length, marked, tracked: entries.length, durationMs: Number(ms.toFixed(2)) });
    } catch (error) {
      this.metrics.sweeps.inc({ result: 'error' });
      this.failures++;
      const delay = Math.min(RETRY_MS.max, RETRY_MS.initial * 2 ** Math.min(this.failures - 1, 10));
      this.log.warn('strict mode: could not end denied connections; retrying (new connections are denied regardless)', { error: error instanceof Error ? error.message : String(error), retryInMs: delay });
      if (!this.stopped) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.request();
        }, delay);
        this.retryTimer.unref();
      }
    }
  }
}
