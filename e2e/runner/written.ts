// What "every agent has applied every write so far" means in resourceVersions, one number per kind.
//
// A write's resourceVersion is the one an agent has seen once it has seen that write (RunApi.write). A
// write that changes nothing makes no watch event and answers with an older number: the real API server
// answers a server-side apply that changes nothing with the object's unchanged resourceVersion, and a
// delete of an object that is not there with 0. Such a write must not lower what the agents are waited
// for: the writes before it still have to reach them.

/** The resourceVersion, per kind, that an agent must have seen to have seen every write recorded. */
export class WrittenVersions {
  private readonly needed: Record<string, number> = {};

  record(kind: string, resourceVersion: number): void {
    this.needed[kind] = Math.max(this.needed[kind] ?? 0, resourceVersion);
  }

  /** Has an agent that saw `seen` (per kind) seen every write recorded? */
  seenBy(seen: Readonly<Record<string, number>>): boolean {
    return Object.entries(this.needed).every(([kind, rv]) => (seen[kind] ?? 0) >= rv);
  }

  toJSON(): Record<string, number> {
    return { ...this.needed };
  }
}
