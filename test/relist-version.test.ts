// The resourceVersion a sync reports around a relist. A caller (the e2e runner) waits for a sync that
// reports a version at or past its write; after a 410 and a relist that version must be reported, and
// never before what it stands for is applied.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { Agent } from '../src/agent/agent.js';
import { FairQueue } from '../src/agent/fairqueue.js';
import type { TimedHandler } from '../src/agent/feed.js';
import { memoryLogger } from '../src/agent/log.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { Reflector, type ListerWatcher, type WatchEventObject } from '../src/watch/reflector.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';
import { poller } from './support/until.js';

const until = poller({ timeoutMs: 8000, pollMs: 5 });

/** Lists answer from `lists` in turn; every watch gets 410 at once. */
function expiringSource(lists: { items: KubernetesObject[]; resourceVersion: string }[]): ListerWatcher & { listed: number } {
  const source = {
    listed: 0,
    async list(onPage: (items: readonly KubernetesObject[]) => void) {
      const answer = lists[Math.min(source.listed++, lists.length - 1)]!;
      onPage(answer.items);
      return answer.resourceVersion;
    },
    async watch(_rv: string, onEvent: (type: string, object: WatchEventObject) => void) {
      setImmediate(() => onEvent('ERROR', { code: 410, reason: 'Expired', message: 'too old resource version' }));
      return { abort() {} };
    },
  };
  return source;
}

const silentFeed = (): TimedHandler => ({ upsert() {}, delete() {}, synced() {}, error() {} });
const pod = (name: string, resourceVersion: string): KubernetesObject => ({ metadata: { namespace: 'x', name, resourceVersion } });

test('after a 410 the reflector reports the last version it read until the relist replaces it, not nothing', async () => {
  const source = expiringSource([{ items: [pod('a', '5')], resourceVersion: '10' }]);
  const errors: string[] = [];
  const reflector = new Reflector('Pod', source, { upsert() {}, delete() {}, synced() {}, error: (f) => void errors.push(f.reason) }, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
  reflector.start();
  try {
    await until('the 410', () => errors.length > 0);
    expect([errors, reflector.version]).toEqual([['expired'], '10']);
  } finally {
    reflector.stop();
  }
});

test('a relist\'s deletions hold the version reported as applied below the list\'s until they are applied', async () => {
  // Listed a and b at 10; the relist at 20 finds neither: both are deleted, through the queue.
  const source = expiringSource([
    { items: [pod('a', '5'), pod('b', '6')], resourceVersion: '10' },
    { items: [], resourceVersion: '20' },
  ]);
  const queue = new FairQueue({ sliceMs: 10, onError: () => {} });
  const wrapped = queue.wrap('Pod', silentFeed());
  // What a sync would report at the moment the relist is delivered (the deletions not applied yet), and
  // once the queue has applied them.
  const reported: string[] = [];
  let reflector: Reflector;
  const handler = {
    ...wrapped,
    synced: () => {
      reported.push(queue.appliedVersion('Pod', reflector.version));
      wrapped.synced();
    },
  };
  reflector = new Reflector('Pod', source, handler, { backoff: { initialMs: 1, maxMs: 1 } });
  reflector.start();
  try {
    await until('the relist', () => reported.length >= 2);
    reflector.stop();
    await until('the deletions applied', () => queue.size === 0);
    reported.push(queue.appliedVersion('Pod', reflector.version));
    expect([reported[1], reported.at(-1)]).toEqual(['19', '20']);
  } finally {
    reflector.stop();
  }
});

describe('the agent after a relist', () => {
  let api: ApiServerDouble;
  let agent: Agent;
  afterEach(async () => {
    await agent?.stop();
    await api?.destroy();
  });

  test('a relist that delivers nothing (no policies) is followed by a sync that reports the list\'s version', async () => {
    // No bookmarks: they advance a kind's version without a sync, which would blur what is tested.
    api = new ApiServerDouble({ bookmarkIntervalMs: 0 });
    await api.start();
    api.apply('Namespace', { metadata: { name: 'x' } });
    api.apply('Pod', { metadata: { namespace: 'x', name: 'a' }, spec: { nodeName: 'node-0', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIPs: [{ ip: '10.244.0.10' }] } });
    const log = memoryLogger();
    const config = testAgentConfig({
      apiUnreachableGraceMs: 300,
      backoff: { initialMs: 20, maxMs: 200 },
      watchStallTimeoutMs: 10_000,
    });
    agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner: new RecordingRunner(), log });
    await agent.start();
    const syncs = () => log.entries.filter((e) => e.msg === 'sync') as unknown as { versions: Record<string, string> }[];
    await until('the first sync', () => syncs().length > 0);

    // A pod changes: its sync reports the Pod's new version, and the policies' version from their list.
    api.apply('Pod', { metadata: { namespace: 'x', name: 'a', labels: { moved: 'yes' } }, spec: { nodeName: 'node-0', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIPs: [{ ip: '10.244.0.10' }] } });
    const written = String(api.resourceVersion);
    await until('the pod change synced', () => syncs().at(-1)?.versions.Pod === written);
    expect(Number(syncs().at(-1)!.versions.NetworkPolicy)).toBeLessThan(Number(written));

    // The policies' watch gets 410; their relist (at the pod's version) delivers nothing.
    const policyLists = () => api.requests.filter((r) => r.includes('networkpolicies') && !r.includes('watch=true')).length;
    const listsBefore = policyLists();
    api.setWatchFault({ type: 'error', code: 410 }, ['NetworkPolicy']);
    await until('the policies relisted', () => policyLists() > listsBefore);
    api.setWatchFault(null);
    await until('a sync reporting the relist\'s version', () => syncs().at(-1)?.versions.NetworkPolicy === written, 3000);
  });
});
