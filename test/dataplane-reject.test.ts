// --deny-action reject with real packets: a denied TCP connection is refused at once (TCP reset) instead
// of timing out, and a denied UDP datagram gets no answer; allowed traffic is unaffected.
import { jest } from '@jest/globals';
import { SandboxCluster } from '../e2e/sandbox/cluster.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { normalizePod } from '../src/model/normalize.js';
import { Dataplane } from '../src/nft/dataplane.js';
import { nftCommand } from '../src/nft/executor.js';
import type { ScenarioPod } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';

jest.setTimeout(60_000);

const pod = (name: string, ip: string): ScenarioPod => ({
  namespace: 'x', name, key: `x/${name}`, labels: { pod: name }, node: 0, ips: [ip], hostNetwork: false,
  ports: [{ port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }],
});

test('denied TCP is reset quickly, allowed TCP connects', async () => {
  const a = pod('a', '10.244.0.10');
  const b = pod('b', '10.244.0.11');
  const cluster = await SandboxCluster.create({ nodes: 1, families: ['IPv4'], pods: [a, b] });
  try {
    const engine = new PolicyEngine('node-0');
    for (const p of [a, b]) engine.upsertPod(normalizePod(podObject(p)));
    const sel = (labels: Record<string, string>) => ({ matchLabels: labels, matchExpressions: [] });
    engine.upsertPolicy({ namespace: 'x', name: 'b-80-only', podSelector: sel({ pod: 'b' }), ingress: [{ peers: null, ports: [{ kind: 'number', protocol: 'TCP', port: 80, endPort: 80 }] }], egress: null });
    await new Dataplane(engine, nftCommand({ netns: cluster.node(0) }), { table: 'nftpol', denyAction: 'reject' }).sync(engine.takeChanges());
    expect(await cluster.probe(a, { ip: b.ips[0]!, port: 80, protocol: 'TCP' }, 3000)).toBe(true);
    const start = Date.now();
    expect(await cluster.probe(a, { ip: b.ips[0]!, port: 81, protocol: 'TCP' }, 3000)).toBe(false);
    expect(Date.now() - start).toBeLessThan(1000); // refused, not timed out after 3 s
    expect(await cluster.probe(a, { ip: b.ips[0]!, port: 53, protocol: 'UDP' }, 500)).toBe(false);
  } finally {
    await cluster.destroy();
  }
});
