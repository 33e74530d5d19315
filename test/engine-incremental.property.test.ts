// Property: after any sequence of Pod, Namespace and NetworkPolicy events, the incremental engine equals a
// from-scratch computation, and each event reports exactly the local pods and peer sets that changed.
import fc from 'fast-check';
import { PolicyEngine } from '../src/engine/engine.js';
import { parseContribution } from '../src/engine/peerset.js';
import { event, World } from './support/arbitraries.js';
import { differingKeys, engineSnapshot } from './support/reference.js';

/** Every set's members as `key -> ips|port`, to check the member deltas the engine reports. */
function rawMembers(engine: PolicyEngine): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const id of engine.peerSetIds()) {
    const members = new Map<string, string>();
    for (const [key, v] of engine.peerSet(id)!.members) members.set(key, `${v.ips.join(',')}|${v.port ?? ''}`);
    out.set(id, members);
  }
  return out;
}

function format(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const v = parseContribution(raw);
  return `${v.ips.join(',')}|${v.port ?? ''}`;
}

describe('incremental engine = from-scratch computation', () => {
  for (const node of ['n1', null]) {
    test(`after any event sequence (local node: ${node ?? 'every pod'}), reporting exactly what changed`, () => {
      fc.assert(
        fc.property(fc.array(event, { minLength: 1, maxLength: 40 }), (events) => {
          const engine = new PolicyEngine(node);
          const world = new World();
          let before = engineSnapshot(engine);
          let beforeMembers = rawMembers(engine);
          for (const e of events) {
            world.apply(engine, e);
            const after = engineSnapshot(engine);
            const afterMembers = rawMembers(engine);
            expect(after).toEqual(world.reference(node));
            const changes = engine.takeChanges();
            expect([...changes.localPods].sort()).toEqual(differingKeys(before.local, after.local));
            expect([...changes.peerSets].sort()).toEqual(differingKeys(before.sets, after.sets));
            // Member deltas: only for sets that existed before and after; each names the previous
            // contribution, and covers every member whose contribution differs.
            for (const [id, members] of changes.memberChanges ?? []) {
              const old = beforeMembers.get(id)!;
              const now = afterMembers.get(id)!;
              expect(old && now).toBeTruthy();
              for (const [key, previous] of members) expect(format(previous)).toEqual(old.get(key));
              const differing = [...new Set([...old.keys(), ...now.keys()])].filter((k) => old.get(k) !== now.get(k));
              for (const key of differing) expect(members.has(key)).toBe(true);
            }
            before = after;
            beforeMembers = afterMembers;
          }
        }),
        { numRuns: 500 },
      );
    });
  }
});
