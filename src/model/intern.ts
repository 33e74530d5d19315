// One shared copy of equal immutable values. The pods of one workload carry the same labels and the same
// container ports, so 100,000 pods hold a few thousand distinct label sets and port lists, not 100,000 of
// each. The table keeps its values weakly: a value no pod holds any more is collected and its entry
// removed, so churn (a rollout's new pod-template-hash) cannot grow it.
export class Interner<T extends object> {
  private readonly table = new Map<string, WeakRef<T>>();
  private readonly cleanup = new FinalizationRegistry<string>((key) => {
    // The entry may already hold a newer value under the same key: remove only a dead one.
    if (this.table.get(key)?.deref() === undefined) this.table.delete(key);
  });

  /** The shared value equal to `value` (frozen), `value` itself when it is the first of its kind. */
  intern(key: string, value: T): T {
    const shared = this.table.get(key)?.deref();
    if (shared !== undefined) return shared;
    Object.freeze(value);
    this.table.set(key, new WeakRef(value));
    this.cleanup.register(value, key);
    return value;
  }

  /** Distinct values alive (for tests). */
  get size(): number {
    return this.table.size;
  }
}
