// Between the reflectors and the engine. Applying one object to the engine can take long (a tenant's
// policy with thousands of values or rules), and a watch delivers events faster than a busy agent applies
// them. Applied in the reflector's callback, a burst of such events held the event loop for seconds
// (/healthz failed) and every later event, of every tenant, queued behind them. Here events wait in one
// lane per namespace, the latest version of an object replaces an older one not yet applied (what counts
// is the object's current state, as in client-go's DeltaFIFO), lanes take turns, and the queue yields to
// the event loop after each slice of work. One tenant's backlog then costs another tenant at most one of
// its objects, and a probe waits at most one object.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WatchedKind } from '../watch/kube.js';
import type { ReflectorHandler } from '../watch/reflector.js';
import type { TimedHandler } from './feed.js';

export interface FairQueueOptions {
  /** Work per turn of the event loop before yielding (ms); one object is always applied whole. */
  readonly sliceMs: number;
  /** An object the handler threw on (a bug, not bad input: the feed rejects bad input itself). */
  readonly onError: (error: unknown, object: KubernetesObject) => void;
  /** Told the number of events waiting whenever it changes, and each time a newer event replaced one (metrics). */
  readonly onLength?: (length: number) => void;
  readonly onCoalesced?: () => void;
}

interface Pending {
  readonly kind: WatchedKind;
  readonly handler: TimedHandler;
  op: 'upsert' | 'delete';
  object: KubernetesObject;
  /** When the first event still waiting in this entry arrived: its latency starts there. */
  readonly receivedAt: bigint;
  /** That event's resourceVersion: everything before it of this kind has been applied. */
  readonly firstVersion: string | undefined;
}

export class FairQueue {
  /** Namespace (a Namespace object's own name) -> object key -> pending event, in arrival order. */
  private readonly lanes = new Map<string, Map<string, Pending>>();
  /** Callbacks waiting for the events queued before them (a reflector's `synced`). */
  private readonly barriers: { readonly waiting: Set<Pending>; readonly run: () => void }[] = [];
  private scheduled = false;
  /** Events applied, and events that replaced an older one before it was applied. */
  applied = 0;
  coalesced = 0;

  constructor(private readonly options: FairQueueOptions) {}

  private waiting = 0;

  /** Events waiting. */
  get size(): number {
    return this.waiting;
  }

  /** A reflector handler that queues upserts and deletes for `handler`; `synced` waits for the events before it. */
  wrap(kind: WatchedKind, handler: TimedHandler): ReflectorHandler {
    return {
      upsert: (object) => this.push(kind, handler, 'upsert', object),
      delete: (object) => this.push(kind, handler, 'delete', object),
      synced: () => this.whenApplied(() => handler.synced()),
      error: (failure) => handler.error(failure),
    };
  }

  /**
   * The resourceVersion up to which every event of `kind` has reached the engine, given how far the
   * reflector has read (`read`): a sync can then say truthfully which writes it enforces.
   */
  appliedVersion(kind: string, read: string): string {
    let oldest: bigint | null = null;
    for (const lane of this.lanes.values()) {
      for (const pending of lane.values()) {
        if (pending.kind !== kind || pending.firstVersion === undefined || !/^\d+$/.test(pending.firstVersion)) continue;
        const version = BigInt(pending.firstVersion);
        if (oldest === null || version < oldest) oldest = version;
      }
    }
    return oldest === null ? read : String(oldest - 1n);
  }

  private push(kind: WatchedKind, handler: TimedHandler, op: 'upsert' | 'delete', object: KubernetesObject): void {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    const laneKey = kind === 'Namespace' ? name : namespace;
    const key = `${kind}/${namespace}/${name}`;
    let lane = this.lanes.get(laneKey);
    if (!lane) this.lanes.set(laneKey, (lane = new Map()));
    const existing = lane.get(key);
    if (existing) {
      existing.op = op;
      existing.object = object;
      this.coalesced++;
      this.options.onCoalesced?.();
    } else {
      lane.set(key, { kind, handler, op, object, receivedAt: process.hrtime.bigint(), firstVersion: object.metadata?.resourceVersion });
      this.waiting++;
      this.options.onLength?.(this.waiting);
    }
    this.schedule();
  }

  /** Runs `run` once every event queued now has been applied (later events do not hold it up). */
  private whenApplied(run: () => void): void {
    const waiting = new Set<Pending>();
    for (const lane of this.lanes.values()) for (const pending of lane.values()) waiting.add(pending);
    if (waiting.size === 0) run();
    else this.barriers.push({ waiting, run });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the event loop has polled for I/O: probes and watch data get their turn.
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const deadline = process.hrtime.bigint() + BigInt(Math.round(this.options.sliceMs * 1e6));
    while (this.lanes.size > 0) {
      // The first lane gives one event and goes to the back: lanes take turns across slices too.
      const [laneKey, lane] = this.lanes.entries().next().value!;
      const [key, pending] = lane.entries().next().value!;
      lane.delete(key);
      this.lanes.delete(laneKey);
      if (lane.size > 0) this.lanes.set(laneKey, lane);
      this.apply(pending);
      if (process.hrtime.bigint() >= deadline) break;
    }
    if (this.lanes.size > 0) this.schedule();
  }

  private apply(pending: Pending): void {
    this.applied++;
    this.waiting--;
    this.options.onLength?.(this.waiting);
    try {
      if (pending.op === 'upsert') pending.handler.upsert(pending.object, pending.receivedAt);
      else pending.handler.delete(pending.object, pending.receivedAt);
    } catch (error) {
      this.options.onError(error, pending.object);
    }
    for (let i = 0; i < this.barriers.length; i++) {
      const barrier = this.barriers[i]!;
      if (!barrier.waiting.delete(pending) || barrier.waiting.size > 0) continue;
      this.barriers.splice(i--, 1);
      barrier.run();
    }
  }
}
