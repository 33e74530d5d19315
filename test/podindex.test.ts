// The pod index (src/engine/podindex.ts) against a plain Map of Sets, through a random sequence of adds and
// removes that crosses the Set-to-bitmap threshold both ways, with ordinals reused after release.
import fc from 'fast-check';
import { PodIndex } from '../src/engine/podindex.js';

test('answers as a Map of Sets would, across the switch to a bitmap and back', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5000 }), fc.constantFrom('app', 'tier=web', 'ns:a')), { minLength: 1, maxLength: 40 }), (steps) => {
      const index = new PodIndex();
      const reference = new Map<string, Set<string>>();
      const ordinals = new Map<string, number>();
      for (const [add, upTo, indexKey] of steps) {
        // Each step adds (or removes) a block of pods: large enough to cross 2048 and fall below 512 again.
        for (let i = 0; i < upTo; i++) {
          const pod = `ns/p${i}`;
          if (add) {
            let ordinal = ordinals.get(pod);
            if (ordinal === undefined) ordinals.set(pod, (ordinal = index.ordinal(pod)));
            index.add(indexKey, ordinal);
            if (!reference.has(indexKey)) reference.set(indexKey, new Set());
            reference.get(indexKey)!.add(pod);
          } else {
            const ordinal = ordinals.get(pod);
            if (ordinal === undefined) continue;
            index.remove(indexKey, ordinal);
            reference.get(indexKey)?.delete(pod);
            if (reference.get(indexKey)?.size === 0) reference.delete(indexKey);
            // A pod no key holds any more gives its ordinal back, to be reused by the next new pod.
            if (![...reference.values()].some((s) => s.has(pod))) {
              index.release(ordinal);
              ordinals.delete(pod);
            }
          }
        }
        for (const key of ['app', 'tier=web', 'ns:a']) {
          expect(index.has(key)).toBe(reference.has(key));
          expect(index.count(key)).toBe(reference.get(key)?.size ?? 0);
          expect(new Set(index.pods(key))).toEqual(reference.get(key) ?? new Set());
        }
      }
    }),
    { numRuns: 40 },
  );
});

test('an ordinal given back is reused, and a pod under it is not confused with the one before', () => {
  const index = new PodIndex();
  const a = index.ordinal('ns/a');
  index.add('app', a);
  index.remove('app', a);
  index.release(a);
  const b = index.ordinal('ns/b');
  expect(b).toBe(a);
  index.add('tier=web', b);
  expect([...index.pods('tier=web')]).toEqual(['ns/b']);
  expect(index.has('app')).toBe(false);
});
