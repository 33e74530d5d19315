// SharedRead: one read per interval however many callers, reads shared while in flight, fresh values once
// the interval is over, the last good value kept through a failure, and no caller held by a slow read.
import { SharedRead, type ReadOutcome } from '../src/agent/shared-read.js';

function countingSource() {
  const source = {
    reads: 0,
    fail: false,
    read: async () => {
      source.reads++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (source.fail) throw new Error('nft not found');
      return source.reads;
    },
  };
  return source;
}

test('32 concurrent and then repeated callers cost one read per interval; after it, a fresh value', async () => {
  const source = countingSource();
  let now = 1_000_000;
  const shared = new SharedRead(source.read, { intervalMs: 10_000, maxWaitMs: 5_000, now: () => now });
  expect(await Promise.all(Array.from({ length: 32 }, () => shared.get()))).toEqual(Array(32).fill(1));
  for (let i = 0; i < 100; i++) {
    now += 99; // 9.9 s in all: still inside the interval
    expect(await shared.get()).toBe(1);
  }
  expect(source.reads).toBe(1);
  now += 200;
  expect(await Promise.all(Array.from({ length: 32 }, () => shared.get()))).toEqual(Array(32).fill(2));
  expect(source.reads).toBe(2);
});

test('a failed read keeps the last good value, is reported, and is not retried by every caller', async () => {
  const source = countingSource();
  const outcomes: ReadOutcome[] = [];
  let now = 0;
  const shared = new SharedRead(source.read, { intervalMs: 1000, maxWaitMs: 5_000, now: () => now }, (o) => outcomes.push(o));
  expect(await shared.get()).toBe(1);
  source.fail = true;
  now += 1000;
  expect(await Promise.all([shared.get(), shared.get(), shared.get()])).toEqual([1, 1, 1]);
  expect(await shared.get()).toBe(1);
  expect(source.reads).toBe(2);
  expect(outcomes.map((o) => o.ok)).toEqual([true, false]);
  source.fail = false;
  now += 1000;
  expect(await shared.get()).toBe(3);
});

test('a caller waits for a slow read at most maxWaitMs, then gets the last value; the read still lands', async () => {
  let release!: () => void;
  let reads = 0;
  let now = 0;
  const shared = new SharedRead(
    async () => {
      reads++;
      if (reads > 1) await new Promise<void>((resolve) => (release = resolve));
      return reads;
    },
    { intervalMs: 1000, maxWaitMs: 30, now: () => now },
  );
  expect(await shared.get()).toBe(1);
  now += 1000;
  expect(await shared.get()).toBe(1); // the read hangs; the caller is not held
  expect(await shared.get()).toBe(1); // and nobody starts a second one meanwhile
  expect(reads).toBe(2);
  release();
  await new Promise((resolve) => setImmediate(resolve));
  expect(await shared.get()).toBe(2);
});
