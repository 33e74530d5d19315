// Keeps nftpol's table equal to the engine's product. The first sync, and every sync after a failure, is a
// full one (the whole table replaced in one transaction); the others change only the chains of local
// pods and the sets the engine reports changed, diffed against the state committed last (kept in memory,
// never read back from the kernel for this).
import type { EngineChanges, MemberChange } from '../engine/engine.js';
import type { ObjectKey } from '../model/types.js';
import { addPod, compileTable, fillSets, memberElements, pruneUnused, removePod, setContent, setName, type AllowSource, type CompileOptions, type PeerDefs } from './compile.js';
import type { NftRunner } from './executor.js';
import type { Transaction } from './operations.js';
import { diffTransaction, fullTransaction, type SetDelta, type TableOptions } from './render.js';
import { MAPS, type MapName, type NftSet, type TableState } from './state.js';
import { FAMILIES } from './vocabulary.js';
import { writeScript } from './write.js';

export type SyncMode = 'full' | 'partial';

/** What the dataplane reads of the engine: what compiling reads, and typed member deltas. */
export interface DataplaneEngine extends AllowSource {
  memberDeltas(changes: EngineChanges, id: string): ReadonlyMap<ObjectKey, MemberChange> | undefined;
}

export interface SyncPlan {
  readonly mode: SyncMode;
  readonly next: TableState;
  /** The transaction as operations, and as the script nft reads; empty when a partial sync has nothing to do. */
  readonly transaction: Transaction;
  readonly script: string;
}

export interface SyncResult {
  readonly mode: SyncMode;
  /** Lines in the transaction (0: nothing to change, nft not run). */
  readonly lines: number;
  readonly durationMs: number;
  /** Of which nft took (spawn, parse, kernel commit). */
  readonly nftMs: number;
}

export type DataplaneOptions = CompileOptions & TableOptions;

function copyState(state: TableState): TableState {
  return {
    sets: new Map(state.sets),
    chains: new Map(state.chains),
    maps: Object.fromEntries(MAPS.map((m) => [m, new Map(state.maps[m])])) as Record<MapName, Map<string, string>>,
    podAddresses: new Map(state.podAddresses),
  };
}

export interface PartialPlan {
  readonly next: TableState;
  /** Sets updated in place, by their element delta (see updateInPlace). */
  readonly deltas: ReadonlyMap<string, SetDelta>;
}

/**
 * Applies the engine's member deltas to a set's elements in place and returns the delta. In place,
 * because copying a set of 100,000 addresses for a one-address change would cost more than the
 * change: the committed state is only ever diffed once more and then replaced (or, after a failed
 * transaction, dropped for a full sync).
 */
function updateInPlace(set: NftSet, members: ReadonlyMap<ObjectKey, MemberChange>, protocol: string | undefined): SetDelta {
  const removed = new Set<string>();
  const added = new Set<string>();
  for (const change of members.values()) {
    const before = change.before === undefined ? [] : memberElements(change.before, set.family, protocol);
    const after = change.after === undefined ? [] : memberElements(change.after, set.family, protocol);
    for (const e of before) if (!after.includes(e)) removed.add(e);
    for (const e of after) if (!before.includes(e)) added.add(e);
  }
  // An address can pass from one member to another (IP reuse): it leaves and comes back, no change.
  for (const e of added) {
    if (removed.delete(e)) added.delete(e);
  }
  for (const e of removed) set.elements.delete(e);
  for (const e of added) set.elements.add(e);
  return { added: [...added], removed: [...removed] };
}

/** The next state after `changes`, built from `committed` by replacing only what changed. */
export function planPartial(engine: DataplaneEngine, committed: TableState, changes: EngineChanges, options: CompileOptions): PartialPlan {
  const next = copyState(committed);
  const deltas = new Map<string, SetDelta>();
  // All removals first: an address can move from one changed pod to another (IP reuse).
  for (const pod of changes.localPods) removePod(next, pod);
  const peerDefs: PeerDefs = (id) => engine.peerSetDef(id);
  for (const pod of changes.localPods) {
    const allow = engine.localPods().get(pod);
    if (allow) addPod(next, allow, options, peerDefs);
  }
  for (const id of changes.peerSets) {
    const members = engine.memberDeltas(changes, id);
    const def = engine.peerSetDef(id);
    for (const family of FAMILIES) {
      const name = setName(id, family);
      const existing = next.sets.get(name);
      if (!existing) continue;
      if (members && def && existing.kind !== 'interval') {
        const delta = updateInPlace(existing, members, def.port?.protocol.toLowerCase());
        if (delta.added.length + delta.removed.length > 0) deltas.set(name, delta);
        continue;
      }
      const set = setContent(engine, name);
      if (set) next.sets.set(name, set);
      else next.sets.delete(name);
    }
  }
  pruneUnused(next);
  fillSets(next, engine);
  return { next, deltas };
}

export class Dataplane {
  private committed: TableState | null = null;

  constructor(
    private readonly engine: DataplaneEngine,
    private readonly runner: NftRunner,
    readonly options: DataplaneOptions,
  ) {}

  /** The state the kernel holds since the last successful sync (null before the first, and after a failure). */
  get committedState(): TableState | null {
    return this.committed;
  }

  /** Whether nftpol's table is in the kernel (false: someone flushed it); for the periodic resync. */
  async tablePresent(): Promise<boolean> {
    return (await this.runner.listTable(this.options.table)) !== null;
  }

  /** Makes the next sync a full one (after a failure, or to repair drift). */
  requestFullSync(): void {
    this.committed = null;
  }

  /** The next state and its transaction. Consumes the committed state (sets change in place): sync() only. */
  private plan(changes: EngineChanges): SyncPlan {
    if (this.committed === null) {
      const next = compileTable(this.engine, this.options);
      const transaction = fullTransaction(next, this.options);
      return { mode: 'full', next, transaction, script: writeScript(transaction) };
    }
    const { next, deltas } = planPartial(this.engine, this.committed, changes, this.options);
    const transaction = diffTransaction(this.committed, next, this.options, deltas);
    return { mode: 'partial', next, transaction, script: writeScript(transaction) };
  }

  /**
   * Applies what changed. On failure nothing changed in the kernel (one transaction), the error is
   * rethrown with nft's message (or the invalid operation's), and the next sync is a full one.
   */
  async sync(changes: EngineChanges): Promise<SyncResult> {
    const start = process.hrtime.bigint();
    let plan: SyncPlan;
    try {
      plan = this.plan(changes);
    } catch (error) {
      // An invalid operation (a bug, caught before nft runs): planning may have updated the committed
      // state's sets in place, so only a full sync can be trusted next.
      this.committed = null;
      throw error;
    }
    const nftStart = process.hrtime.bigint();
    if (plan.script !== '') {
      try {
        await this.runner.apply(plan.script, plan.transaction);
      } catch (error) {
        this.committed = null;
        throw error;
      }
    }
    const end = process.hrtime.bigint();
    this.committed = plan.next;
    const lines = plan.script === '' ? 0 : plan.script.split('\n').length - 1;
    return { mode: plan.mode, lines, durationMs: Number(end - start) / 1e6, nftMs: Number(end - nftStart) / 1e6 };
  }
}
