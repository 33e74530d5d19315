// Property: for random clusters and random event sequences, the table nftpol programs enforces the
// policies. The dataplane syncs after every event (a full sync first, then incremental ones) into the
// atomic fake nft; after each sync, a packet traced through the table for every pair of addresses and
// every probed port gets the verdict the reference semantics give. No root, no network namespace.
import fc from 'fast-check';
import { PolicyEngine } from '../src/engine/engine.js';
import type { Protocol } from '../src/model/types.js';
import { Dataplane } from '../src/nft/dataplane.js';
import { event, World, type Event } from './support/arbitraries.js';
import { FakeNft } from './support/fake-nft.js';
import { ReferenceNode } from './support/reference-verdict.js';
import { Tracer, type Packet } from './support/tracer.js';

const NODE = 'n1';
const options = { denyAction: 'drop' as const, table: 'nftpol' };

/**
 * Addresses no pod of the arbitraries has: outside every CIDR, inside one, inside an except (beside the
 * pods' own), for the node itself (input hook) and for pods elsewhere.
 */
const OTHER_ADDRESSES = ['10.0.0.9', '10.0.1.9', '10.1.0.1', '192.168.0.1', 'fd00::9', 'fd01::1'];
/** The policies' ports (80, 53, 80-90, named http = 80 or 8080, dns = 53, any TCP or SCTP) and their neighbours. */
const PROBES: [Protocol, number][] = [['TCP', 80], ['TCP', 81], ['TCP', 90], ['TCP', 91], ['TCP', 8080], ['TCP', 53], ['UDP', 53], ['UDP', 80], ['SCTP', 80]];

/**
 * Some pods on this node with addresses and some policies first (so that most runs have local pods
 * isolated both ways, talking to each other), then any events, each followed by a sync.
 */
const clusterThenEvents: fc.Arbitrary<Event[]> = fc
  .tuple(
    fc.array(event.filter((e) => e.type === 'upsertPod' && e.pod.node === NODE && e.pod.ips.length > 0), { minLength: 2, maxLength: 4 }),
    fc.array(event.filter((e) => e.type === 'upsertPolicy'), { minLength: 1, maxLength: 3 }),
    fc.array(event, { maxLength: 12 }),
  )
  .map(([pods, policies, rest]) => [...pods, ...policies, ...rest]);

function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

/** Every disagreement between the traced table and the reference, with the path the packet took. */
function disagreements(world: World, tracer: Tracer): string[] {
  const reference = new ReferenceNode([...world.pods.values()], [...world.namespaces.values()], [...world.policies.values()], NODE);
  const podAddresses = [...new Set([...world.pods.values()].flatMap((p) => p.ips))];
  const addresses = [...new Set([...podAddresses, ...OTHER_ADDRESSES])];
  const out: string[] = [];
  for (const src of addresses) {
    for (const dst of addresses) {
      if (familyOf(src) !== familyOf(dst)) continue;
      // Routed traffic takes forward; traffic to an address no pod has may be the node's own (input).
      const hooks: Packet['hook'][] = podAddresses.includes(dst) ? ['forward'] : ['forward', 'input'];
      for (const hook of hooks) {
        for (const [protocol, port] of PROBES) {
          const want = reference.allows(src, dst, protocol, port);
          const trace = tracer.trace({ hook, src, dst, protocol: protocol.toLowerCase() as Packet['protocol'], port });
          if ((trace.verdict === 'accept') !== want) out.push(`${hook} ${src} -> ${dst} ${protocol}/${port}: table ${trace.verdict}, reference ${want ? 'allow' : 'deny'}; path: ${trace.path.join(' | ')}`);
        }
      }
    }
  }
  return out;
}

test('after every sync, traced verdicts equal the reference semantics for every pair and port', async () => {
  await fc.assert(
    fc.asyncProperty(clusterThenEvents, async (events) => {
      const engine = new PolicyEngine(NODE);
      const world = new World();
      const fake = new FakeNft();
      const dataplane = new Dataplane(engine, fake, options);
      await dataplane.sync(engine.takeChanges());
      for (const e of events) {
        world.apply(engine, e);
        const result = await dataplane.sync(engine.takeChanges());
        expect(result.mode).toBe('partial');
        const wrong = disagreements(world, new Tracer(fake.table(options.table)!));
        if (wrong.length > 0) throw new Error(`after ${JSON.stringify(e)}:\n${wrong.slice(0, 5).join('\n')}${wrong.length > 5 ? `\n(${wrong.length - 5} more)` : ''}`);
      }
      // The fake refused nothing along the way (a refusal would also have failed the sync).
      expect(fake.refused).toBe(0);
    }),
    { numRuns: 100 },
  );
});
