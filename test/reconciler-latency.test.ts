// The programming latency starts when the agent received the event (the feed callback), not when the
// reconciler got to it: time spent updating the engine and waiting behind a sync in flight both show in
// the sync log and in nftpol_network_programming_duration_seconds.
import { DEFAULT_POLICY_LIMITS } from '../src/model/limits.js';
import { feedHandler } from '../src/agent/feed.js';
import { memoryLogger } from '../src/agent/log.js';
import { createMetrics } from '../src/agent/metrics.js';
import { Reconciler } from '../src/agent/reconciler.js';
import { PolicyEngine } from '../src/engine/engine.js';
import type { NetworkPolicy } from '../src/model/types.js';
import { Dataplane } from '../src/nft/dataplane.js';
import type { NftRunner } from '../src/nft/executor.js';

const ENGINE_MS = 150;
const HELD_MS = 100;

/** An engine for which one policy is costly to take in (as a hostile tenant's policy can be). */
class CostlyPolicyEngine extends PolicyEngine {
  override upsertPolicy(policy: NetworkPolicy): void {
    if (policy.name === 'costly') {
      const until = process.hrtime.bigint() + BigInt(ENGINE_MS) * 1_000_000n;
      while (process.hrtime.bigint() < until);
    }
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

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 8000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const deny = (name: string) => ({ metadata: { namespace: name === 'costly' ? 'y' : 'x', name }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });

test('a change waiting behind engine work and a sync in flight is timed from its receipt', async () => {
  const engine = new CostlyPolicyEngine('node-0');
  const runner = new HeldRunner();
  const metrics = createMetrics();
  const log = memoryLogger();
  const reconciler = new Reconciler(engine, new Dataplane(engine, runner, { table: 'nftpol', denyAction: 'drop' }), runner, metrics, log, {
    table: 'nftpol',
    fullResyncPeriodMs: 3_600_000,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  const events = { changed: (at: bigint) => reconciler.changed(at), synced: () => {}, watchError: () => {} };
  const feed = (kind: 'Pod' | 'Namespace' | 'NetworkPolicy') => feedHandler(kind, engine, log, metrics, DEFAULT_POLICY_LIMITS, events);
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
  const sent = process.hrtime.bigint();
  feed('NetworkPolicy').upsert(deny('costly'));
  await new Promise((resolve) => setTimeout(resolve, HELD_MS));
  runner.release();
  await until('deny-costly enforced', () => syncLogs().length === logged + 2 && reconciler.syncs === 3);
  const enforcedWithin = Number(process.hrtime.bigint() - sent) / 1e6;

  const latencyMs = syncLogs()[logged + 1]!.latencyMs as number;
  expect(latencyMs).toBeGreaterThanOrEqual(ENGINE_MS + HELD_MS);
  expect(latencyMs).toBeLessThanOrEqual(enforcedWithin);
  // The metric observes the same latencies as the log.
  const values = (await metrics.programmingLatency.get()).values;
  const sum = values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const loggedSum = syncLogs().reduce((total, e) => total + ((e.latencyMs as number | undefined) ?? 0), 0);
  expect(sum * 1000).toBeCloseTo(loggedSum, -1);
  await reconciler.stop();
});
