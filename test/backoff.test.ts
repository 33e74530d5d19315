// The backoff of lists, watches (and later syncs): growth to a cap, jitter within its bounds, and a reset
// only after a healthy period, never on a mere success.
import { Backoff, DEFAULT_BACKOFF } from '../src/watch/backoff.js';
import { ManualClock } from './support/clock.js';

/** The test's clock (the one the reconciler's tests use too), as the `now` Backoff reads. */
function clock() {
  const c = new ManualClock(0);
  return { now: () => c.now(), advance: (ms: number) => c.advance(ms) };
}

test('doubles from the first delay to the cap; jitter stretches each delay by up to 100 %', () => {
  const c = clock();
  const low = new Backoff({ initialMs: 100, maxMs: 1000 }, c.now, () => 0);
  const high = new Backoff({ initialMs: 100, maxMs: 1000 }, c.now, () => 0.999);
  const lows = Array.from({ length: 7 }, () => low.next());
  const highs = Array.from({ length: 7 }, () => high.next());
  expect(lows).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  expect(highs).toEqual([200, 400, 800, 1599, 1999, 1999, 1999]);
});

test('client-go defaults: 800 ms to 30 s, so at the cap one attempt every 30-60 s', () => {
  expect(DEFAULT_BACKOFF).toMatchObject({ initialMs: 800, maxMs: 30_000, factor: 2, jitter: 1, resetAfterMs: 120_000 });
  const b = new Backoff(DEFAULT_BACKOFF, clock().now);
  const delays = Array.from({ length: 20 }, () => b.next());
  expect(delays[0]).toBeGreaterThanOrEqual(800);
  expect(delays[0]).toBeLessThan(1600);
  for (const d of delays.slice(6)) {
    expect(d).toBeGreaterThanOrEqual(30_000);
    expect(d).toBeLessThan(60_000);
  }
});

test('starts again at the first delay only after a period without failures', () => {
  const c = clock();
  const b = new Backoff({ initialMs: 100, maxMs: 10_000, resetAfterMs: 5_000 }, c.now, () => 0);
  expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
  c.advance(4_999); // failing again before the healthy period is over: keeps growing
  expect(b.next()).toBe(800);
  c.advance(5_000);
  expect(b.next()).toBe(100);
});
