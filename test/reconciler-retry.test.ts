// A failed sync is retried after the agent's one backoff (src/watch/backoff.ts: the reflectors' too), on
// the injected clock: growing with jitter from the shared default, back to the first delay after a sync
// that worked. The periodic resync runs on the same clock and asks the dataplane, not nft, whether the
// table is still there. The test advances a fake clock: no sleeping.
import { memoryLogger } from '../src/agent/log.js';
import { createMetrics } from '../src/agent/metrics.js';
import { Reconciler } from '../src/agent/reconciler.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { Dataplane } from '../src/nft/dataplane.js';
import type { NftRunner } from '../src/nft/executor.js';
import { DEFAULT_BACKOFF } from '../src/watch/backoff.js';
import { ManualClock, turnsUntil as until } from './support/clock.js';

class FlakyRunner implements NftRunner {
  failing = true;
  applied = 0;
  listed = 0;
  tablePresent = true;
  async apply(): Promise<void> {
    this.applied++;
    if (this.failing) throw new Error('nft says no');
  }
  async listTable(): Promise<string | null> {
    this.listed++;
    return this.tablePresent ? 'table inet nftpol {}' : null;
  }
}

const RESYNC_MS = 600_000;

function setup() {
  const clock = new ManualClock();
  const engine = new PolicyEngine('node-0');
  engine.upsertNamespace({ name: 'x', labels: {} } as never);
  const runner = new FlakyRunner();
  const metrics = createMetrics();
  const log = memoryLogger();
  // No backoff given: the reconciler uses the agent's one default.
  const reconciler = new Reconciler(engine, new Dataplane(engine, runner, { table: 'nftpol', denyAction: 'drop' }), metrics, log, { table: 'nftpol', fullResyncPeriodMs: RESYNC_MS, clock });
  const failures = () => log.entries.filter((e) => e.msg === 'sync failed; retrying with a full sync');
  const retryIn = () => failures().at(-1)!.retryInMs as number;
  return { clock, runner, metrics, log, reconciler, failures, retryIn };
}

test('failed syncs back off from the shared default with jitter, on the clock, and start again after a success', async () => {
  const { clock, runner, reconciler, failures, retryIn } = setup();
  reconciler.start();
  await until('first failure', () => failures().length === 1);
  const delays = [retryIn()];
  for (let attempt = 2; attempt <= 4; attempt++) {
    // Not one millisecond early.
    clock.advance(retryIn() - 1);
    await until('idle', () => true, 50);
    expect(runner.applied).toBe(attempt - 1);
    clock.advance(1);
    await until(`failure ${attempt}`, () => failures().length === attempt);
    delays.push(retryIn());
  }
  // DEFAULT_BACKOFF: 800 ms doubling, each delay stretched by up to 100 %.
  delays.forEach((delay, i) => {
    expect(delay).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.initialMs * 2 ** i);
    expect(delay).toBeLessThan(2 * DEFAULT_BACKOFF.initialMs * 2 ** i);
  });

  runner.failing = false;
  clock.advance(retryIn());
  await until('a sync that works', () => reconciler.lastSyncOk);
  runner.failing = true;
  await reconciler.resync();
  await until('the next failure', () => failures().length === 5);
  expect(retryIn()).toBeLessThan(2 * DEFAULT_BACKOFF.initialMs);
  await reconciler.stop();
  expect(clock.pending()).toEqual([]);
});

test('the periodic resync runs on the clock and asks the dataplane whether the table is still there', async () => {
  const { clock, runner, metrics, reconciler } = setup();
  runner.failing = false;
  reconciler.start();
  await until('first sync', () => reconciler.firstSyncDone);
  const applied = runner.applied;
  clock.advance(RESYNC_MS - 1);
  await until('idle', () => true, 50);
  expect(runner.listed).toBe(0);

  runner.tablePresent = false;
  clock.advance(1);
  await until('a full sync rewrote the table', () => runner.applied === applied + 1);
  expect(runner.listed).toBe(1);
  expect((await metrics.driftRepairs.get()).values[0]?.value).toBe(1);
  // And again one period later.
  clock.advance(RESYNC_MS);
  await until('the next resync', () => runner.listed === 2);
  await reconciler.stop();
});
