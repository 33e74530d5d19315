// The e2e runner's "settled": every agent has seen every write so far. A write that changes nothing
// answers with an older resourceVersion on the real API server (a no-op server-side apply: the object's
// own; a delete of an object that is not there: 0); it must not let "settled" pass before the writes
// before it have reached the agents.
import { WrittenVersions } from '../e2e/runner/written.js';

describe('WrittenVersions', () => {
  it('waits for every write of a kind up to the newest version seen', () => {
    const written = new WrittenVersions();
    written.record('NetworkPolicy', 257);
    expect(written.seenBy({ NetworkPolicy: 256 })).toBe(false);
    expect(written.seenBy({ NetworkPolicy: 257 })).toBe(true);
  });

  it('still waits for a deletion after an apply that changed nothing answers with the older version', () => {
    const written = new WrittenVersions();
    written.record('NetworkPolicy', 257); // apply: allow the clients
    written.record('NetworkPolicy', 259); // delete client-no-egress
    written.record('NetworkPolicy', 257); // apply of the same policy again: unchanged, its own version
    expect(written.seenBy({ NetworkPolicy: 258 })).toBe(false);
    expect(written.seenBy({ NetworkPolicy: 259 })).toBe(true);
  });

  it('still waits for an apply after a delete of a policy that is not there answers 0', () => {
    const written = new WrittenVersions();
    written.record('NetworkPolicy', 257);
    written.record('NetworkPolicy', 0);
    expect(written.seenBy({ NetworkPolicy: 256 })).toBe(false);
    expect(written.seenBy({})).toBe(false);
  });

  it('keeps kinds apart, and a kind never written needs nothing', () => {
    const written = new WrittenVersions();
    written.record('Pod', 300);
    written.record('NetworkPolicy', 250);
    expect(written.seenBy({ Pod: 300, NetworkPolicy: 249 })).toBe(false);
    expect(written.seenBy({ Pod: 299, NetworkPolicy: 250 })).toBe(false);
    expect(written.seenBy({ Pod: 300, NetworkPolicy: 250, Namespace: 1 })).toBe(true);
    expect(new WrittenVersions().seenBy({})).toBe(true);
  });
});
