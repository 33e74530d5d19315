// The dataplane reads the engine through a narrow typed interface (DataplaneEngine): allow-sets, peer
// sets and typed member deltas, never the engine's encoded member strings.
import { PolicyEngine } from '../src/engine/engine.js';
import { compileTable } from '../src/nft/compile.js';
import { Dataplane, type DataplaneEngine } from '../src/nft/dataplane.js';
import { plainState, RecordingRunner } from './support/nft.js';

const all = { matchLabels: {}, matchExpressions: [] };
const pod = (name: string, ips: string[], labels: Record<string, string> = { app: 'web' }) => ({ namespace: 'a', name, labels, node: 'n1', ips, phase: 'Running' as const, hostNetwork: false, ports: [] });

test('member deltas come typed: each changed member before and now', () => {
  const engine = new PolicyEngine('n1');
  engine.upsertPolicy({ namespace: 'a', name: 'np', podSelector: all, ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: { matchLabels: { app: 'web' }, matchExpressions: [] } }], ports: null }], egress: null });
  engine.upsertPod(pod('p1', ['10.0.0.1']));
  engine.upsertPod(pod('p2', ['10.0.0.2']));
  engine.takeChanges();
  engine.upsertPod(pod('p1', ['10.0.0.1'], { app: 'db' }));
  engine.upsertPod(pod('p3', ['10.0.0.3']));
  const changes = engine.takeChanges();
  const [id] = [...changes.peerSets];
  expect(Object.fromEntries(engine.memberDeltas(changes, id!)!)).toEqual({
    'a/p1': { before: { ips: ['10.0.0.1'], port: null }, after: undefined },
    'a/p3': { before: undefined, after: { ips: ['10.0.0.3'], port: null } },
  });
});

test('the dataplane syncs from nothing but the narrow view', async () => {
  const engine = new PolicyEngine('n1');
  const view: DataplaneEngine = {
    localPods: () => engine.localPods(),
    peerSetDef: (id) => engine.peerSetDef(id),
    peerSet: (id) => engine.peerSet(id),
    memberDeltas: (changes, id) => engine.memberDeltas(changes, id),
  };
  const runner = new RecordingRunner();
  const dataplane = new Dataplane(view, runner, { denyAction: 'drop', table: 'nftpol' });
  engine.upsertPolicy({ namespace: 'a', name: 'np', podSelector: all, ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: all }], ports: null }], egress: null });
  await dataplane.sync(engine.takeChanges());
  for (const [name, ip] of [['p1', '10.0.0.1'], ['p2', '10.0.0.2'], ['p1', '10.0.0.5']] as const) {
    engine.upsertPod(pod(name, [ip]));
    expect((await dataplane.sync(engine.takeChanges())).mode).toBe('partial');
  }
  expect(plainState(dataplane.committedState!)).toEqual(plainState(compileTable(engine, { denyAction: 'drop' })));
  expect(runner.scripts.at(-1)).toMatch(/delete element inet nftpol peer-\w+-v4 \{ 10\.0\.0\.1 \}\nadd element inet nftpol peer-\w+-v4 \{ 10\.0\.0\.5 \}/);
});
