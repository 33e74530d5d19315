// Between the reflectors and the engine. Applying one object to the engine can take long (a tenant's
// policy with thousands of values or rules), and a watch delivers events faster than a busy agent applies
// them. Applied in the reflector's callback, a burst of such events held the event loop for seconds
// (/healthz failed) and every later event, of every tenant, queued behind them. Here events wait in one
// lane per namespace, the latest version of an object replaces an older one not yet applied (what counts
// is the object's current state, as in client-go's DeltaFIFO), lanes take turns, and the queue yields to
// the event loop after each slice of work. One tenant's backlog then costs another tenant at most one of
// its objects, and a probe waits at most one object.
//
// Pacing. A lane whose object cost much CPU to apply (a policy at the per-policy limits) also costs a large
// nft transaction. Applied as fast as the tenant writes, such objects kept one of those transactions in
// flight at all times, and every other tenant's change waited for it and then shared the next one with the
// following costly object. So after a costly object (or a sync that had a large chain or set of the
// lane's pods to program: see Reconciler) the lane's NetworkPolicies wait (coalescing into their
// latest versions) until the sync that carries it has finished, and then for `paceFactor` times what that
// object cost (its application plus that sync): the lane gets at most 1 / (1 + paceFactor) of the agent's
// time, and other lanes' changes go through in small transactions of their own meanwhile. Pods and
// Namespaces of a held lane are not held (they decide which addresses belong to whom).
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
  /** Pacing (see above); none without. */
  readonly pacing?: PacingOptions;
}

export interface PacingOptions {
  /** An object whose application took at least this much CPU time (ms) makes its lane costly. */
  readonly costlyCpuMs: number;
  /** After a costly object's sync, its lane's policies wait this many times its cost. */
  readonly paceFactor: number;
  /** No lane waits longer than this (ms), whatever happens to the syncs (so nothing is held for good). */
  readonly maxHoldMs: number;
}

/** A costly lane: what its costly objects cost to apply since the last sync began, and until when it waits. */
interface Held {
  applyMs: number;
  /** hrtime (ns); while its sync runs, the cap. */
  until: bigint;
  /** Its objects are in the sync that runs now (set by syncStarting). */
  inSync: boolean;
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
  /** Lanes whose policies wait (pacing). */
  private readonly held = new Map<string, Held>();
  private pacingOn = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeAtNs: bigint | null = null;

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
  appliedVersion(kind: string, read: string, exceptLanes?: ReadonlySet<string>, onlyLane?: string): string {
    let oldest: bigint | null = null;
    for (const [laneKey, lane] of this.lanes) {
      if (exceptLanes?.has(laneKey) || (onlyLane !== undefined && laneKey !== onlyLane)) continue;
      for (const pending of lane.values()) {
        if (pending.kind !== kind || pending.firstVersion === undefined || !/^\d+$/.test(pending.firstVersion)) continue;
        const version = BigInt(pending.firstVersion);
        if (oldest === null || version < oldest) oldest = version;
      }
    }
    return oldest === null ? read : String(oldest - 1n);
  }

  /** Lanes whose policies wait now (pacing). */
  heldLanes(): string[] {
    const now = process.hrtime.bigint();
    return [...this.held.keys()].filter((laneKey) => this.isHeld(laneKey, now)).sort();
  }

  /**
   * Lanes with events not applied yet, or null when there are more than `limit`. With appliedVersion's
   * `exceptLanes` and `onlyLane`, a sync can say up to which version each namespace's writes are in it,
   * while one namespace's policies wait.
   */
  waitingLanes(limit: number): string[] | null {
    return this.lanes.size > limit ? null : [...this.lanes.keys()].sort();
  }

  /** Pacing starts once the agent syncs (before, nothing would end a hold but its cap). */
  startPacing(): void {
    this.pacingOn = this.options.pacing !== undefined;
  }

  /**
   * A sync takes what the engine holds now: the costly lanes applied so far are in it, and so are the
   * lanes in `costly` (namespaces whose changed pods have large chains or sets to program, however cheap
   * the object that changed them was to apply).
   */
  syncStarting(costly: Iterable<string> = []): void {
    for (const held of this.held.values()) if (held.applyMs > 0) held.inSync = true;
    if (!this.options.pacing || !this.pacingOn) return;
    // Held until this sync finishes (syncFinished sets the pace), the cap as a backstop.
    const cap = process.hrtime.bigint() + BigInt(Math.round(this.options.pacing.maxHoldMs * 1e6));
    for (const laneKey of costly) {
      const held = this.held.get(laneKey);
      if (held) {
        held.inSync = true;
        if (held.until < cap) held.until = cap;
      } else {
        this.held.set(laneKey, { applyMs: 0, until: cap, inSync: true });
      }
    }
  }

  /** That sync ended (or failed) after `durationMs`: its costly lanes wait `paceFactor` times their cost. */
  syncFinished(durationMs: number): void {
    const pacing = this.options.pacing;
    if (!pacing) return;
    const now = process.hrtime.bigint();
    for (const [laneKey, held] of this.held) {
      if (!held.inSync) continue;
      const waitMs = Math.min(pacing.maxHoldMs, pacing.paceFactor * (held.applyMs + durationMs));
      held.until = now + BigInt(Math.round(waitMs * 1e6));
      held.applyMs = 0;
      held.inSync = false;
      if (this.lanes.has(laneKey)) this.wakeAt(held.until);
    }
    if (this.lanes.size > 0) this.schedule();
  }

  /** Whether a lane's policies wait now; drops holds that have ended. */
  private isHeld(laneKey: string, now: bigint): boolean {
    const held = this.held.get(laneKey);
    if (!held) return false;
    if (held.until > now) return true;
    this.held.delete(laneKey);
    return false;
  }

  /** Drains again at `at` (the earliest of the wake-ups asked for wins). */
  private wakeAt(at: bigint): void {
    if (this.wakeTimer !== null && this.wakeAtNs !== null && this.wakeAtNs <= at) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAtNs = at;
    const delayMs = Math.max(0, Number(at - process.hrtime.bigint()) / 1e6);
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wakeAtNs = null;
      this.schedule();
    }, Math.ceil(delayMs));
    // The agent's servers keep the process alive; a pending wake-up alone must not.
    this.wakeTimer.unref();
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
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(this.options.sliceMs * 1e6));
    // Lanes visited in this pass whose only events are held policies: they keep their place.
    let skipped = 0;
    while (this.lanes.size > skipped) {
      // The first lane gives one event and goes to the back: lanes take turns across slices too.
      const [laneKey, lane] = this.lanes.entries().next().value!;
      this.lanes.delete(laneKey);
      const entry = this.next(laneKey, lane);
      this.lanes.set(laneKey, lane);
      if (entry === null) {
        skipped++;
        continue;
      }
      const [key, pending] = entry;
      lane.delete(key);
      if (lane.size === 0) this.lanes.delete(laneKey);
      skipped = 0;
      this.apply(laneKey, pending);
      if (process.hrtime.bigint() >= deadline) break;
    }
    if (this.lanes.size > skipped) this.schedule();
    else if (this.lanes.size > 0) this.wakeAtEarliestHold();
  }

  /** The lane's next event that may be applied now: its first, or while it is held its first that is not a policy. */
  private next(laneKey: string, lane: Map<string, Pending>): [string, Pending] | null {
    if (!this.isHeld(laneKey, process.hrtime.bigint())) return lane.entries().next().value!;
    for (const entry of lane) if (entry[1].kind !== 'NetworkPolicy') return entry;
    return null;
  }

  private wakeAtEarliestHold(): void {
    let earliest: bigint | null = null;
    for (const [laneKey, held] of this.held) {
      if (!this.lanes.has(laneKey) || held.inSync) continue;
      if (earliest === null || held.until < earliest) earliest = held.until;
    }
    // A lane whose sync still runs is woken by syncFinished; its cap is the backstop.
    for (const held of this.held.values()) if (held.inSync && (earliest === null || held.until < earliest)) earliest = held.until;
    if (earliest !== null) this.wakeAt(earliest);
  }

  private apply(laneKey: string, pending: Pending): void {
    this.applied++;
    this.waiting--;
    this.options.onLength?.(this.waiting);
    // This thread's CPU time, not wall time (on a busy node a cheap object can wait for the CPU and look
    // slow) nor the process's (the garbage collector's threads run beside it).
    const cpu = process.threadCpuUsage();
    try {
      if (pending.op === 'upsert') pending.handler.upsert(pending.object, pending.receivedAt);
      else pending.handler.delete(pending.object, pending.receivedAt);
    } catch (error) {
      this.options.onError(error, pending.object);
    }
    this.notePacing(laneKey, process.threadCpuUsage(cpu));
    for (let i = 0; i < this.barriers.length; i++) {
      const barrier = this.barriers[i]!;
      if (!barrier.waiting.delete(pending) || barrier.waiting.size > 0) continue;
      this.barriers.splice(i--, 1);
      barrier.run();
    }
  }

  /** A costly object holds its lane's policies until its sync has finished (then syncFinished paces it). */
  private notePacing(laneKey: string, cpu: NodeJS.CpuUsage): void {
    const pacing = this.options.pacing;
    if (!pacing || !this.pacingOn) return;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    if (cpuMs < pacing.costlyCpuMs) return;
    const cap = process.hrtime.bigint() + BigInt(Math.round(pacing.maxHoldMs * 1e6));
    const held = this.held.get(laneKey);
    if (held) {
      held.applyMs += cpuMs;
      if (!held.inSync) held.until = cap;
    } else {
      this.held.set(laneKey, { applyMs: cpuMs, until: cap, inSync: false });
    }
  }
}
