// The queue between the reflectors and the engine: a tenant's backlog of costly objects neither holds the
// event loop nor makes another namespace's change wait behind all of it, and repeated writes of one object
// cost one application.
import type { KubernetesObject } from '@kubernetes/client-node';
import { FairQueue } from '../src/agent/fairqueue.js';
import type { TimedHandler } from '../src/agent/feed.js';

interface Call {
  op: 'upsert' | 'delete' | 'synced';
  name: string;
  version?: string;
  receivedAt?: bigint;
}

/** A feed that records what reaches it and spends `costMs` on each object of namespace `costly`. */
function recordingFeed(costMs = 0): TimedHandler & { calls: Call[] } {
  const calls: Call[] = [];
  const spend = (object: KubernetesObject) => {
    if (object.metadata?.namespace !== 'costly') return;
    // CPU time of this thread, as the queue measures cost: wall time on a loaded machine may be mostly
    // waiting for a core, and the object would then not be costly.
    const start = process.threadCpuUsage();
    while (process.threadCpuUsage(start).user + process.threadCpuUsage(start).system < costMs * 1000);
  };
  return {
    calls,
    upsert(object, receivedAt) {
      spend(object);
      calls.push({ op: 'upsert', name: `${object.metadata!.namespace}/${object.metadata!.name}`, version: object.metadata!.resourceVersion!, receivedAt: receivedAt! });
    },
    delete(object, receivedAt) {
      calls.push({ op: 'delete', name: `${object.metadata!.namespace}/${object.metadata!.name}`, receivedAt: receivedAt! });
    },
    synced: () => void calls.push({ op: 'synced', name: '' }),
    error: () => {},
  };
}

const object = (namespace: string, name: string, version: number): KubernetesObject => ({ metadata: { namespace, name, resourceVersion: String(version) } });
const idle = () => new Promise((resolve) => setTimeout(resolve, 0));
const settle = async (queue: FairQueue) => {
  while (queue.size > 0) await idle();
};

test('repeated writes of one object before it is applied are applied once, the latest, timed from the first', async () => {
  const feed = recordingFeed();
  const lengths: number[] = [];
  let coalesced = 0;
  const queue = new FairQueue({ sliceMs: 10, onError: () => {}, onLength: (n) => lengths.push(n), onCoalesced: () => coalesced++ });
  const handler = queue.wrap('NetworkPolicy', feed);
  const before = process.hrtime.bigint();
  for (let v = 1; v <= 100; v++) handler.upsert(object('evil', 'p', v));
  handler.delete(object('evil', 'q', 101));
  handler.upsert(object('evil', 'q', 102));
  await settle(queue);
  expect(feed.calls.map((c) => `${c.op} ${c.name} ${c.version ?? ''}`)).toEqual(['upsert evil/p 100', 'upsert evil/q 102']);
  expect(feed.calls[0]!.receivedAt! >= before && feed.calls[0]!.receivedAt! < feed.calls[1]!.receivedAt!).toBe(true);
  expect(queue.coalesced).toBe(100);
  // What the agent's metrics see: at most two events waiting, none at the end, 100 replaced.
  expect([Math.max(...lengths), lengths.at(-1), coalesced]).toEqual([2, 0, 100]);
});

test("another namespace's change waits for one costly object, not for the whole backlog, and the event loop turns meanwhile", async () => {
  const COST_MS = 20;
  const feed = recordingFeed(COST_MS);
  const queue = new FairQueue({ sliceMs: 10, onError: () => {} });
  const handler = queue.wrap('NetworkPolicy', feed);
  for (let i = 0; i < 20; i++) handler.upsert(object('costly', `p${i}`, i + 1));
  handler.upsert(object('good', 'web', 21));
  // A timer due now stands for a probe: it must run long before the 20 x 20 ms backlog is through.
  let turnedAfter = -1;
  setTimeout(() => (turnedAfter = feed.calls.length), 0);
  await settle(queue);
  expect(feed.calls.findIndex((c) => c.name === 'good/web')).toBeLessThanOrEqual(1);
  expect(turnedAfter).toBeGreaterThanOrEqual(0);
  expect(turnedAfter).toBeLessThanOrEqual(2);
});

test('synced follows the events before it, and the reported version stops before the oldest event not applied', async () => {
  const feed = recordingFeed(5);
  const queue = new FairQueue({ sliceMs: 1, onError: () => {} });
  const handler = queue.wrap('Pod', feed);
  handler.upsert(object('costly', 'a', 7));
  handler.upsert(object('costly', 'b', 8));
  handler.synced();
  handler.upsert(object('costly', 'c', 9));
  expect(queue.appliedVersion('Pod', '9')).toBe('6');
  expect(queue.appliedVersion('Namespace', '9')).toBe('9');
  await settle(queue);
  expect(feed.calls.map((c) => c.op + (c.name ? ` ${c.name}` : ''))).toEqual(['upsert costly/a', 'upsert costly/b', 'synced', 'upsert costly/c']);
  expect(queue.appliedVersion('Pod', '9')).toBe('9');
});

test('an object the feed throws on is reported and the others are still applied', async () => {
  const feed = recordingFeed();
  const errors: string[] = [];
  const queue = new FairQueue({ sliceMs: 10, onError: (error, o) => errors.push(`${o.metadata!.name}: ${String(error)}`) });
  const throwing: TimedHandler = { ...feed, upsert: (o, at) => (o.metadata!.name === 'bad' ? (() => { throw new Error('boom'); })() : feed.upsert(o, at)) };
  const handler = queue.wrap('Pod', throwing);
  handler.upsert(object('x', 'bad', 1));
  handler.upsert(object('x', 'good', 2));
  await settle(queue);
  expect(errors).toEqual(['bad: Error: boom']);
  expect(feed.calls.map((c) => c.name)).toEqual(['x/good']);
});

describe('pacing a namespace whose objects are costly', () => {
  const pacing = { costlyCpuMs: 10, paceFactor: 2, maxHoldMs: 5000 };
  const applied = (feed: { calls: Call[] }, name: string) => feed.calls.filter((c) => c.name === name).map((c) => c.version);
  const until = async (done: () => boolean, ms = 3000) => {
    const end = Date.now() + ms;
    while (!done() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 2));
  };

  test("after a costly policy its namespace's policies wait for that sync and then twice its cost, coalesced; other namespaces and its pods do not wait", async () => {
    const feed = recordingFeed(20);
    const queue = new FairQueue({ sliceMs: 10, onError: () => {}, pacing });
    queue.startPacing();
    const policies = queue.wrap('NetworkPolicy', feed);
    const pods = queue.wrap('Pod', feed);
    policies.upsert(object('costly', 'p', 1));
    await settle(queue);
    queue.syncStarting();
    policies.upsert(object('costly', 'p', 2));
    policies.upsert(object('costly', 'p', 3));
    policies.upsert(object('good', 'web', 4));
    pods.upsert(object('costly', 'pod', 5));
    await until(() => applied(feed, 'good/web').length > 0 && applied(feed, 'costly/pod').length > 0);
    expect(applied(feed, 'good/web')).toEqual(['4']);
    expect(applied(feed, 'costly/pod')).toEqual(['5']);
    expect(queue.heldLanes()).toEqual(['costly']);
    // The sync still runs: the costly namespace's next policy waits for it however long it takes.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(applied(feed, 'costly/p')).toEqual(['1']);
    expect(queue.appliedVersion('NetworkPolicy', '4')).toBe('1');
    expect(queue.waitingLanes(8)).toEqual(['costly']);
    expect(queue.appliedVersion('NetworkPolicy', '4', new Set(['costly']))).toBe('4');
    const finished = Date.now();
    queue.syncFinished(30);
    await until(() => applied(feed, 'costly/p').length > 1);
    const waited = Date.now() - finished;
    // 2 x (20 ms of CPU for p and for the pod + 30 ms of sync) = 140 ms; the timer may be late, not early.
    expect(waited).toBeGreaterThanOrEqual(95);
    expect(waited).toBeLessThan(2000);
    expect(applied(feed, 'costly/p')).toEqual(['1', '3']);
    // Version 3 was costly too: the lane waits for the sync that carries it.
    expect(queue.heldLanes()).toEqual(['costly']);
  });

  test('a cheap namespace is never held, and a hold ends at its cap even if no sync reports', async () => {
    const feed = recordingFeed(20);
    const queue = new FairQueue({ sliceMs: 10, onError: () => {}, pacing: { ...pacing, maxHoldMs: 100 } });
    queue.startPacing();
    const policies = queue.wrap('NetworkPolicy', feed);
    for (let i = 1; i <= 5; i++) {
      policies.upsert(object('good', 'web', i));
      await settle(queue);
    }
    expect(applied(feed, 'good/web')).toEqual(['1', '2', '3', '4', '5']);
    expect(queue.heldLanes()).toEqual([]);
    policies.upsert(object('costly', 'p', 6));
    await settle(queue);
    policies.upsert(object('costly', 'p', 7));
    await until(() => applied(feed, 'costly/p').length > 1);
    expect(applied(feed, 'costly/p')).toEqual(['6', '7']);
  });
});
