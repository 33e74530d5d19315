// The reconciler tells the event queue which namespaces a sync had costly chains or sets to program, so
// that the queue paces them (fairqueue.ts): a policy cheap to take in can still make a namespace's pods'
// chain a thousand rules long, and then every change of that namespace is a large transaction.
import { DEFAULT_POLICY_LIMITS } from '../src/model/limits.js';
import { feedHandler } from '../src/agent/feed.js';
import { memoryLogger } from '../src/agent/log.js';
import { createMetrics } from '../src/agent/metrics.js';
import { COSTLY_PROGRAMMING_WEIGHT, Reconciler } from '../src/agent/reconciler.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { Dataplane } from '../src/nft/dataplane.js';
import type { NftRunner } from '../src/nft/executor.js';
import { turnsUntil as until } from './support/clock.js';

const runner: NftRunner = { apply: async () => {}, listTable: async () => null };

test('a sync names the namespaces whose changed pods have costly chains or sets, and only those', async () => {
  const engine = new PolicyEngine('node-0');
  const metrics = createMetrics();
  const log = memoryLogger();
  const started: string[][] = [];
  const finished: number[] = [];
  const reconciler = new Reconciler(engine, new Dataplane(engine, runner, { table: 'nftpol', denyAction: 'drop' }), metrics, log, {
    table: 'nftpol',
    fullResyncPeriodMs: 3_600_000,
    backoff: { initialMs: 20, maxMs: 200 },
    pacing: { syncStarting: (costly) => void started.push([...costly].sort()), syncFinished: (ms) => void finished.push(ms) },
  });
  const events = { changed: (at: bigint) => reconciler.changed(at), synced: () => {}, watchError: () => {} };
  const feed = (kind: 'Pod' | 'Namespace' | 'NetworkPolicy') => feedHandler(kind, engine, log, metrics, DEFAULT_POLICY_LIMITS, events);
  for (const name of ['x', 'y', 'z']) feed('Namespace').upsert({ metadata: { name } });
  for (const [ns, ip] of [['x', '10.244.0.10'], ['y', '10.244.0.11'], ['z', '10.244.0.12']] as const) {
    feed('Pod').upsert({ metadata: { namespace: ns, name: 'p', labels: { app: 'p' } }, spec: { nodeName: 'node-0', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIPs: [{ ip }] } } as never);
  }
  reconciler.start();
  await until('first sync', () => reconciler.firstSyncDone);

  const rules = (n: number) => Array.from({ length: n }, (_, i) => ({ from: [{ ipBlock: { cidr: `172.16.${i % 256}.${(i >> 8) * 16}/28` } }], ports: [{ protocol: 'TCP', port: 1 + i }] }));
  const excepts = (n: number) => Array.from({ length: n }, (_, i) => `10.0.${i >> 7}.${(i & 127) * 2 + 1}/32`);
  const sync = async (policy: object) => {
    const before = started.length;
    feed('NetworkPolicy').upsert(policy as never);
    await until('sync', () => finished.length > before);
    return started[before];
  };
  // An ordinary policy: not costly.
  expect(await sync({ metadata: { namespace: 'x', name: 'small' }, spec: { podSelector: {}, ingress: rules(3) } })).toEqual([]);
  // Many rules: costly. Just below the threshold: not.
  expect(await sync({ metadata: { namespace: 'y', name: 'rules' }, spec: { podSelector: {}, ingress: rules(COSTLY_PROGRAMMING_WEIGHT) } })).toEqual(['y']);
  expect(await sync({ metadata: { namespace: 'z', name: 'rules' }, spec: { podSelector: {}, ingress: rules(COSTLY_PROGRAMMING_WEIGHT / 2 - 2) } })).toEqual([]);
  // One rule, but a large set of ranges: costly.
  expect(await sync({ metadata: { namespace: 'x', name: 'excepts' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: excepts(COSTLY_PROGRAMMING_WEIGHT) } }] }] } })).toEqual(['x']);
  // A cheap change in y still rewrites y's pods' large chain: y is costly again.
  expect(await sync({ metadata: { namespace: 'y', name: 'small' }, spec: { podSelector: {}, ingress: rules(1) } })).toEqual(['y']);
  expect(finished.length).toBe(started.length);
  await reconciler.stop();
});
