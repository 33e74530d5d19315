// Property: after any sequence of Pod, Namespace and NetworkPolicy events, the incremental engine equals a
// from-scratch computation, and each event reports exactly the local pods and peer sets that changed.
import fc from 'fast-check';
import { PolicyEngine } from '../src/engine/engine.js';
import { event, World } from './support/arbitraries.js';
import { differingKeys, engineSnapshot } from './support/reference.js';

describe('incremental engine = from-scratch computation', () => {
  for (const node of ['n1', null]) {
    test(`after any event sequence (local node: ${node ?? 'every pod'}), reporting exactly what changed`, () => {
      fc.assert(
        fc.property(fc.array(event, { minLength: 1, maxLength: 40 }), (events) => {
          const engine = new PolicyEngine(node);
          const world = new World();
          let before = engineSnapshot(engine);
          for (const e of events) {
            world.apply(engine, e);
            const after = engineSnapshot(engine);
            expect(after).toEqual(world.reference(node));
            const changes = engine.takeChanges();
            expect([...changes.localPods].sort()).toEqual(differingKeys(before.local, after.local));
            expect([...changes.peerSets].sort()).toEqual(differingKeys(before.sets, after.sets));
            before = after;
          }
        }),
        { numRuns: 500 },
      );
    });
  }
});
