// The programming latency starts when the agent received the event (the feed callback), not when the
// reconciler got to it: time spent updating the engine and waiting behind a sync in flight both show in
// the sync log and in nftpol_network_programming_duration_seconds. Time is a fake clock the test advances:
// the engine's work and nft's hold cost no wall time, and the latencies are exact.
import { DEFAULT_POLICY_LIMITS } from '../src/model/limits.js';
import { feedHandler } from '../src/agent/feed.js';
import { memoryLogger } from '../src/agent/log.js';
import { createMetrics } from '../src/agent/metrics.js';
import { Reconciler } from '../src/agent/reconciler.js';
import { PolicyEngine } from '../src/engine/engine.js';
import type { NetworkPolicy } from '../src/model/types.js';
import { Dataplane } from '../src/nft/dataplane.js';
import type { NftRunner } from '../src/nft/executor.js';
import { ManualClock, turnsUntil as until } from './support/clock.js';

const ENGINE_MS = 150;
const HELD_MS = 100;

/** An engine for which one policy is costly to take in (as a hostile tenant's policy can be): ENGINE_MS on the clock. */
class CostlyPolicyEngine extends PolicyEngine {
  constructor(
    node: string,
    private readonly clock: ManualClock,
  ) {
    super(node);
  }
  override upsertPolicy(policy: NetworkPolicy): void {
    if (policy.name === 'costly') this.clock.advance(ENGINE_MS);
    super.upsertPolicy(policy);
  }
}

/** An nft double whose transactions wait for release() while `held` is set. */
class HeldRunner implements NftRunner {
  held = false;
  applied = 0;
  private waiting: (() => void)[] = [];
  async apply(): Promise<void> {
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.applied++;
  }
  release(): void {
    this.held = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
  async listTable(): Promise<string | null> {
    return null;
  }
}

const deny = (name: string) => ({ metadata: { namespace: name === 'costly' ? 'y' : 'x', name }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });

test('a change waiting behind engine work and a sync in flight is timed from its receipt', async () => {
  const clock = new ManualClock();
  const engine = new CostlyPolicyEngine('node-0', clock);
  const runner = new HeldRunner();
  const metrics = createMetrics();
  const log = memoryLogger();
  const reconciler = new Reconciler(engine, new Dataplane(engine, runner, { table: 'nftpol', denyAction: 'drop' }), metrics, log, {
    table: 'nftpol',
    fullResyncPeriodMs: 3_600_000,
    backoff: { initialMs: 20, maxMs: 200 },
    clock,
  });
  const events = { changed: (at: bigint) => reconciler.changed(at), synced: () => {}, watchError: () => {} };
  // Received now on the test's clock (the feed's default would read the system's).
  const handler = (kind: 'Pod' | 'Namespace' | 'NetworkPolicy') => feedHandler(kind, engine, log, metrics, DEFAULT_POLICY_LIMITS, events);
  const feed = (kind: 'Pod' | 'Namespace' | 'NetworkPolicy') => ({ upsert: (object: object) => handler(kind).upsert(object as never, clock.hrtime()) });
  for (const name of ['x', 'y']) feed('Namespace').upsert({ metadata: { name } });
  for (const [ns, ip] of [['x', '10.244.0.10'], ['y', '10.244.0.11']] as const) {
    feed('Pod').upsert({ metadata: { namespace: ns, name: 'p', labels: { app: 'p' } }, spec: { nodeName: 'node-0', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIPs: [{ ip }] } } as never);
  }
  reconciler.start();
  await until('first sync', () => reconciler.firstSyncDone);
  const syncLogs = () => log.entries.filter((e) => e.msg === 'sync');
  const logged = syncLogs().length;

  // Tenant x's change starts a sync that nft holds up.
  runner.held = true;
  feed('NetworkPolicy').upsert(deny('deny-x'));
  await until('sync of deny-x in flight', () => reconciler.syncs === 2);
  // Tenant y's change arrives meanwhile and costs the engine ENGINE_MS before the reconciler hears of it.
  feed('NetworkPolicy').upsert(deny('costly'));
  clock.advance(HELD_MS);
  runner.release();
  await until('deny-costly enforced', () => syncLogs().length === logged + 2 && reconciler.syncs === 3);

  // Received before the engine's ENGINE_MS, enforced after nft's HELD_MS: nothing else moved the clock.
  expect(syncLogs()[logged + 1]!.latencyMs).toBe(ENGINE_MS + HELD_MS);
  // The metric observes the same latencies as the log.
  const values = (await metrics.programmingLatency.get()).values;
  const sum = values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const loggedSum = syncLogs().reduce((total, e) => total + ((e.latencyMs as number | undefined) ?? 0), 0);
  expect(sum * 1000).toBeCloseTo(loggedSum, -1);
  await reconciler.stop();
});
