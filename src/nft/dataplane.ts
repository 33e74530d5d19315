// Keeps nftpol's table equal to the engine's product. The first sync, and every sync after a failure, is a
// full one (the whole table replaced in one transaction); the others change only the chains of local
// pods and the sets the engine reports changed, diffed against the state committed last (kept in memory,
// never read back from the kernel for this).
import type { EngineChanges } from '../engine/engine.js';
import type { PolicyEngine } from '../engine/engine.js';
import type { Direction } from '../model/types.js';
import { addPod, chainName, fillSets, setContent, setName, type CompileOptions, compileTable } from './compile.js';
import type { NftRunner } from './executor.js';
import { renderDiff, renderFull, type TableOptions } from './render.js';
import { DISPATCH_MAPS, type TableState } from './state.js';

export type SyncMode = 'full' | 'partial';

export interface SyncPlan {
  readonly mode: SyncMode;
  readonly next: TableState;
  /** The transaction; empty when a partial sync has nothing to do. */
  readonly script: string;
}

export interface SyncResult {
  readonly mode: SyncMode;
  /** Lines in the transaction (0: nothing to change, nft not run). */
  readonly lines: number;
  readonly durationMs: number;
}

export type DataplaneOptions = CompileOptions & TableOptions;

const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

function copyState(state: TableState): TableState {
  return {
    sets: new Map(state.sets),
    chains: new Map(state.chains),
    maps: {
      'ingress-v4': new Map(state.maps['ingress-v4']),
      'ingress-v6': new Map(state.maps['ingress-v6']),
      'egress-v4': new Map(state.maps['egress-v4']),
      'egress-v6': new Map(state.maps['egress-v6']),
    },
  };
}

/** The next state after `changes`, built from `committed` by replacing only what changed. */
export function planPartial(engine: PolicyEngine, committed: TableState, changes: EngineChanges, options: CompileOptions): TableState {
  const next = copyState(committed);
  for (const pod of changes.localPods) {
    const names = new Set(DIRECTIONS.map((d) => chainName(d, pod)));
    for (const name of names) next.chains.delete(name);
    for (const map of DISPATCH_MAPS) {
      for (const [ip, chain] of next.maps[map]) if (names.has(chain)) next.maps[map].delete(ip);
    }
    const allow = engine.localPods().get(pod);
    if (allow) addPod(next, allow, options);
  }
  for (const id of changes.peerSets) {
    for (const family of ['v4', 'v6'] as const) {
      const name = setName(id, family);
      if (!next.sets.has(name)) continue;
      const set = setContent(engine, name);
      if (set) next.sets.set(name, set);
      else next.sets.delete(name);
    }
  }
  const referenced = new Set<string>();
  for (const chain of next.chains.values()) for (const name of chain.sets) referenced.add(name);
  for (const name of next.sets.keys()) if (!referenced.has(name)) next.sets.delete(name);
  fillSets(next, engine);
  return next;
}

export class Dataplane {
  private committed: TableState | null = null;

  constructor(
    private readonly engine: PolicyEngine,
    private readonly runner: NftRunner,
    readonly options: DataplaneOptions,
  ) {}

  /** The state the kernel holds since the last successful sync (null before the first, and after a failure). */
  get committedState(): TableState | null {
    return this.committed;
  }

  /** Makes the next sync a full one (after a failure, or to repair drift). */
  requestFullSync(): void {
    this.committed = null;
  }

  plan(changes: EngineChanges): SyncPlan {
    if (this.committed === null) {
      const next = compileTable(this.engine, this.options);
      return { mode: 'full', next, script: renderFull(next, this.options) };
    }
    const next = planPartial(this.engine, this.committed, changes, this.options);
    return { mode: 'partial', next, script: renderDiff(this.committed, next, this.options) };
  }

  /**
   * Applies what changed. On failure nothing changed in the kernel (one transaction), the error is
   * rethrown with nft's message, and the next sync is a full one.
   */
  async sync(changes: EngineChanges): Promise<SyncResult> {
    const start = process.hrtime.bigint();
    const plan = this.plan(changes);
    if (plan.script !== '') {
      try {
        await this.runner.apply(plan.script);
      } catch (error) {
        this.committed = null;
        throw error;
      }
    }
    this.committed = plan.next;
    const lines = plan.script === '' ? 0 : plan.script.split('\n').length - 1;
    return { mode: plan.mode, lines, durationMs: Number(process.hrtime.bigint() - start) / 1e6 };
  }
}
