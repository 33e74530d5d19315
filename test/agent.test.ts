// The agent against the API server double over HTTP (list, watch, bookmarks, 410, dropped watches,
// restarts, outages) with a recording nft runner: what it enforces, how it batches, how it survives faults.
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { Agent } from '../src/agent/agent.js';
import { memoryLogger } from '../src/agent/log.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';
import { poller } from './support/until.js';

jest.setTimeout(30_000);

const config = testAgentConfig({
  apiUnreachableGraceMs: 300,
  backoff: { initialMs: 20, maxMs: 200 },
  watchStallTimeoutMs: 1000,
});

const until = poller({ timeoutMs: 8000, pollMs: 10 });

function pod(namespace: string, name: string, labels: Record<string, string>, ip: string, node = 'node-0') {
  return { metadata: { namespace, name, labels }, spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] }, status: { phase: 'Running', podIPs: [{ ip }] } };
}

function policy(namespace: string, name: string, spec: Record<string, unknown>) {
  return { metadata: { namespace, name }, spec };
}

let api: ApiServerDouble;
let runner: RecordingRunner;
let agent: Agent;
let log: ReturnType<typeof memoryLogger>;

const all = () => runner.scripts.join('\n');
const last = () => runner.scripts[runner.scripts.length - 1] ?? '';
async function metric(name: string): Promise<string> {
  return (await agent.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name)).join('\n');
}
async function get(path: string): Promise<number> {
  const port = path === '/metrics' ? agent.ports.metrics : agent.ports.healthz;
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
}

beforeEach(async () => {
  api = new ApiServerDouble({ bookmarkIntervalMs: 100 });
  await api.start();
  api.apply('Namespace', { metadata: { name: 'x', labels: { team: 'a' } } });
  api.apply('Namespace', { metadata: { name: 'y' } });
  api.apply('Pod', pod('x', 'a', { app: 'a' }, '10.244.0.10'));
  api.apply('Pod', pod('x', 'b', { app: 'b' }, '10.244.0.11'));
  api.apply('Pod', pod('y', 'c', { app: 'c' }, '10.244.1.10', 'node-1'));
  runner = new RecordingRunner();
  log = memoryLogger();
  agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner, log });
  await agent.start();
  await until('ready', async () => (await get('/readyz')) === 200);
});

afterEach(async () => {
  await agent.stop();
  await api.destroy();
});

test('starts with a full sync once every kind is listed, then enforces creates, updates and deletes of each kind', async () => {
  expect(runner.scripts[0]).toMatch(/^add table inet nftpol\ndelete table inet nftpol\n/);
  expect(await get('/healthz')).toBe(200);
  // Every watch asked for bookmarks and started from the list's resourceVersion.
  expect(api.requests.filter((r) => r.includes('watch=true')).every((r) => /allowWatchBookmarks=true/.test(r) && /resourceVersion=\d+/.test(r))).toBe(true);

  api.apply('NetworkPolicy', policy('x', 'only-b', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }));
  await until('policy enforced', () => /add element inet nftpol ingress-v4 \{ 10\.244\.0\.10 : jump in-/.test(last()));
  expect(last()).toMatch(/add element inet nftpol peer-[0-9a-f]+-v4 \{ 10\.244\.0\.11 \}/);

  api.apply('Pod', pod('x', 'b', { app: 'other' }, '10.244.0.11'));
  await until('pod label change', () => /delete element inet nftpol peer-[0-9a-f]+-v4 \{ 10\.244\.0\.11 \}/.test(last()));

  api.apply('NetworkPolicy', policy('x', 'only-b', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }] }] }));
  api.apply('Namespace', { metadata: { name: 'y', labels: { team: 'b' } } });
  await until('namespace label change', () => /add element inet nftpol peer-[0-9a-f]+-v4 \{ 10\.244\.1\.10 \}/.test(all()));

  api.delete('Pod', 'y', 'c');
  await until('pod delete', () => /delete element inet nftpol peer-[0-9a-f]+-v4 \{ 10\.244\.1\.10 \}/.test(last()));

  api.delete('NetworkPolicy', 'x', 'only-b');
  await until('policy delete', () => /delete element inet nftpol ingress-v4 \{ 10\.244\.0\.10 \}/.test(last()));
  expect(await metric('nftpol_sync_duration_seconds_count{mode="partial"}')).toMatch(/ [1-9]\d*$/);
  expect(await metric('nftpol_network_programming_duration_seconds_count')).toMatch(/ [1-9]\d*$/);
  expect(log.entries.some((e) => e.msg === 'sync' && e.mode === 'partial' && typeof e.lines === 'number' && typeof e.durationMs === 'number')).toBe(true);
});

test('a burst of 1,000 events yields few transactions', async () => {
  // Pods of app=b are peers of a's policy: every burst pod changes a set.
  api.apply('NetworkPolicy', policy('x', 'from-b', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }));
  await until('policy enforced', () => last().includes('10.244.0.10 : jump in-'));
  const before = runner.scripts.length;
  for (let i = 0; i < 1000; i++) api.apply('Pod', pod('x', `burst-${i}`, { app: 'b' }, `10.244.${2 + Math.floor(i / 250)}.${i % 250}`, i % 2 ? 'node-0' : 'node-1'));
  await until('burst received', () => agent.engine.pod('x/burst-999') !== undefined);
  await until('quiet', async () => {
    const n = runner.scripts.length;
    await new Promise((r) => setTimeout(r, 100));
    return runner.scripts.length === n;
  });
  const transactions = runner.scripts.length - before;
  expect(transactions).toBeGreaterThan(0);
  expect(transactions).toBeLessThan(50);
  // Nothing was lost in the batching: the last pod's address is in a's peer set.
  expect(all()).toMatch(/add element inet nftpol peer-[0-9a-f]+-v4 \{[^}]*10\.244\.5\.249/);
});

test('an nft failure is counted, makes the agent unready, and is retried as a full sync', async () => {
  runner.failNext = '/dev/stdin:1:1-3: Error: Could not process rule: Operation not permitted\n';
  api.apply('NetworkPolicy', policy('x', 'deny', { podSelector: {} }));
  await until('failure counted', async () => /nftpol_sync_failures_total\{mode="partial"\} 1/.test(await metric('nftpol_sync_failures_total')));
  await until('retried as a full sync', () => /^add table inet nftpol\ndelete table inet nftpol/.test(last()) && last().includes('10.244.0.10 : jump in-'));
  await until('ready again', async () => (await get('/readyz')) === 200);
  expect(log.entries.some((e) => e.level === 'error' && e.msg.startsWith('sync failed'))).toBe(true);
});

test('a bad policy is rejected, counted and never widens access; the previous version stays', async () => {
  api.apply('NetworkPolicy', policy('x', 'p', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ ports: [{ port: 443 }] }] }));
  await until('good version enforced', () => last().includes('th dport 443 accept'));
  const syncs = runner.scripts.length;
  api.apply('NetworkPolicy', policy('x', 'p', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Equals', values: ['a'] }] } }));
  await until('rejection counted', async () => /kind="NetworkPolicy"\} 1/.test(await metric('nftpol_rejected_objects_total')));
  expect(log.entries.some((e) => e.level === 'warn' && e.object === 'NetworkPolicy x/p')).toBe(true);
  expect(agent.engine.podAllow('x/a')!.ingress.rules[0]!.ports).toEqual([{ protocol: 'TCP', from: 443, to: 443 }]);
  // A rule the engine cannot read is left out: the pod stays isolated without it.
  api.apply('NetworkPolicy', policy('x', 'p', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/99' } }] }] }));
  await until('bad rule dropped', () => runner.scripts.length > syncs && !last().includes('th dport 443'));
  expect(agent.engine.podAllow('x/a')!.ingress).toMatchObject({ isolated: true, rules: [] });
});

test('a dropped watch is resumed from its resourceVersion; 410 Gone makes it relist and see deletions', async () => {
  api.dropWatches();
  api.apply('NetworkPolicy', policy('x', 'deny', { podSelector: {} }));
  await until('event after a dropped watch', () => last().includes('10.244.0.10 : jump in-'));
  const lists = () => api.requests.filter((r) => !r.includes('watch=true')).length;
  const listsBefore = lists();

  // While the agent is cut off, history is compacted and a pod is deleted: only a relist can show it.
  api.setDown(true);
  api.delete('Pod', 'x', 'b');
  api.compact();
  api.setDown(false);
  await until('relisted', () => lists() > listsBefore);
  await until('deletion seen by relist', () => agent.engine.pod('x/b') === undefined);
  await until('enforced', () => /delete element inet nftpol ingress-v4 \{ 10\.244\.0\.11 \}/.test(all()));
  api.bookmark(); // bookmarks are accepted on the way
  api.apply('Pod', pod('x', 'd', {}, '10.244.0.12'));
  await until('watch works after relist', () => last().includes('10.244.0.12 : jump in-'));
});

test('API outage: enforcement stays, not ready after the grace, recovers after a restart of the API server', async () => {
  api.apply('NetworkPolicy', policy('x', 'deny', { podSelector: {} }));
  await until('enforced', () => last().includes('10.244.0.10 : jump in-'));
  const syncs = runner.scripts.length;
  api.setDown(true);
  await until('not ready after the grace', async () => (await get('/readyz')) === 503);
  expect(runner.scripts.length).toBe(syncs); // nothing was removed while the API was away
  expect(await get('/healthz')).toBe(200);
  expect(await metric('nftpol_watch_errors_total')).toMatch(/ [1-9]\d*$/m);
  expect(await metric('nftpol_ready ')).toBe('nftpol_ready 0'); // what the NftpolAgentNotReady alert reads
  api.setDown(false);
  await api.restart();
  api.apply('Pod', pod('x', 'e', {}, '10.244.0.13'));
  await until('events flow again', () => last().includes('10.244.0.13 : jump in-'));
  await until('ready again', async () => (await get('/readyz')) === 200);
  expect(await metric('nftpol_ready ')).toBe('nftpol_ready 1');
});

test('watch faults: each failure is logged and counted by kind and reason, not ready after the grace, ready again after', async () => {
  for (const [fault, reason] of [
    [{ type: 'error', code: 500 }, 'error_event'],
    [{ type: 'error', code: 410 }, 'expired'],
    [{ type: 'close' }, 'closed_early'],
    [{ type: 'silent' }, 'stalled'],
  ] as const) {
    await new Promise((r) => setTimeout(r, 250)); // a bookmark on every watch first
    const requests = api.requests.length;
    const started = Date.now();
    api.setWatchFault(fault, ['Pod']);
    await until(`${reason}: not ready`, async () => (await get('/readyz')) === 503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(config.apiUnreachableGraceMs);
    expect(await (await fetch(`http://127.0.0.1:${agent.ports.healthz}/readyz`)).text()).toContain(`Pod (${reason})`);
    expect(await metric(`nftpol_watch_failures_total{kind="Pod",reason="${reason}"}`)).toMatch(/ [1-9]\d*$/);
    expect(log.entries.some((e) => e.kind === 'Pod' && e.reason === reason && typeof e.retryInMs === 'number')).toBe(true);
    // Bounded: with backoff from 20 ms to a 200 ms cap, a few dozen requests in this time (main: thousands).
    const elapsed = Date.now() - started;
    expect(api.requests.length - requests).toBeLessThanOrEqual(2 * Math.ceil(elapsed / 200) + 10);
    expect(await get('/healthz')).toBe(200);
    api.setWatchFault(null);
    await until(`${reason}: ready again`, async () => (await get('/readyz')) === 200);
  }
  // The other kinds kept their watches all along.
  expect(await metric('nftpol_watch_failures_total{kind="Namespace"')).toBe('');
});

test('the periodic resync notices a missing table and rewrites it whole', async () => {
  const syncs = runner.scripts.length;
  await agent.reconciler.resync(); // the recording runner holds no table: as after `nft flush ruleset`
  await until('full sync', () => runner.scripts.length > syncs && last().startsWith('add table inet nftpol\ndelete table inet nftpol'));
  expect(await metric('nftpol_drift_repairs_total')).toMatch(/ 1$/);
});

test('/metrics exposes the documented series', async () => {
  const text = await agent.metrics.registry.metrics();
  for (const name of [
    'nftpol_sync_duration_seconds',
    'nftpol_sync_failures_total',
    'nftpol_sync_last_success_timestamp_seconds',
    'nftpol_network_programming_duration_seconds',
    'nftpol_watched_objects',
    'nftpol_local_pods',
    'nftpol_nft_set_elements',
    'nftpol_nft_chains',
    'nftpol_rejected_objects_total',
    'nftpol_denied_packets_total',
    'nftpol_ready',
    'nftpol_build_info',
    'nftpol_process_resident_memory_bytes',
  ]) {
    expect(text).toContain(name);
  }
  expect(await metric('nftpol_watched_objects{kind="Pod"}')).toMatch(/ 3$/);
  expect(await metric('nftpol_local_pods{isolation="none"}')).toMatch(/ 2$/);
  expect(await get('/metrics')).toBe(200);
});

test('nftpol_watched_objects follows watch events, not only relists', async () => {
  api.apply('Pod', pod('y', 'watched', { app: 'w' }, '10.244.1.11', 'node-1'));
  await until('4 pods known', async () => (await metric('nftpol_watched_objects{kind="Pod"}')).endsWith(' 4'));
  api.delete('Pod', 'y', 'watched');
  await until('3 pods known again', async () => (await metric('nftpol_watched_objects{kind="Pod"}')).endsWith(' 3'));
});
