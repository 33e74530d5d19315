// The reflector on the API server double over HTTP: paginated lists, then a watch from the list's
// resourceVersion; and each fault of the API server, with the backoff and the reasons it reports.
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { Reflector, type WatchFailure } from '../src/watch/reflector.js';

test('lists in pages of 500, then watches from the resourceVersion of the list', async () => {
  const api = new ApiServerDouble();
  await api.start();
  try {
    for (let i = 0; i < 1200; i++) api.apply('Pod', { metadata: { namespace: 'x', name: `p${i}` } });
    const upserts: string[] = [];
    let synced = 0;
    const reflector = new Reflector('Pod', kubeListerWatchers(loadKubeConfig(api.kubeconfig), 500).Pod, {
      upsert: (o) => void upserts.push(o.metadata!.name!),
      delete: () => undefined,
      synced: () => void synced++,
      error: (e) => {
        throw e;
      },
    });
    reflector.start();
    const deadline = Date.now() + 5000;
    while (synced === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(synced).toBe(1);
    expect(new Set(upserts).size).toBe(1200);
    expect(api.requests.filter((r) => r.startsWith('GET /api/v1/pods?') && r.includes('limit=500')).length).toBe(3);
    api.apply('Pod', { metadata: { namespace: 'x', name: 'late' } });
    while (!upserts.includes('late') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(upserts).toContain('late');
    reflector.stop();
  } finally {
    await api.destroy();
  }
});

// Faults of the API server, each produced by the double over HTTP. Backoff and stall timeout are scaled
// down (50 ms doubling to 400 ms; 300 ms of silence) so that a 2.5 s window shows the pattern: without
// backoff the same window holds hundreds to thousands of requests.
describe('API faults: failures are reported with their reason and retried with a growing backoff', () => {
  const WINDOW_MS = 2500;
  let api: ApiServerDouble;
  let reflector: Reflector;
  let failures: WatchFailure[];
  let upserts: string[];
  let synced: number;

  async function startReflector(): Promise<void> {
    reflector = new Reflector(
      'Pod',
      kubeListerWatchers(loadKubeConfig(api.kubeconfig)).Pod,
      {
        upsert: (o) => void upserts.push(o.metadata!.name!),
        delete: () => undefined,
        synced: () => void synced++,
        error: (f) => void failures.push(f),
      },
      { backoff: { initialMs: 50, maxMs: 400, resetAfterMs: 60_000 }, stallTimeoutMs: 300 },
    );
    reflector.start();
  }

  async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const watches = () => api.requests.filter((r) => r.includes('watch=true')).length;
  const lists = () => api.requests.filter((r) => !r.includes('watch=true')).length;

  /** Runs the fault for the window; returns the requests it caused. */
  async function during(fault: () => void): Promise<{ watches: number; lists: number }> {
    // The watch has had its first bookmark (a watch ended before any event would count as closed_early).
    await new Promise((r) => setTimeout(r, 250));
    const before = { watches: watches(), lists: lists() };
    fault();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    return { watches: watches() - before.watches, lists: lists() - before.lists };
  }

  /** Every failure had this reason, and the delays grew to the cap: 50, 100, 200, 400 ms, each stretched by jitter to less than twice. */
  function expectBackoff(reason: string): void {
    expect(failures.length).toBeGreaterThanOrEqual(4);
    expect(failures.map((f) => f.reason)).toEqual(failures.map(() => reason));
    for (const [i, f] of failures.slice(0, 6).entries()) {
      const base = Math.min(400, 50 * 2 ** i);
      expect(f.retryInMs).toBeGreaterThanOrEqual(base);
      expect(f.retryInMs).toBeLessThanOrEqual(2 * base);
    }
  }

  /** Once the fault is gone, the reflector is back in sync and events flow. */
  async function expectRecovery(clear: () => void): Promise<void> {
    clear();
    api.apply('Pod', { metadata: { namespace: 'x', name: 'after' } });
    await until('an event after the fault', () => upserts.includes('after'));
    await until('back in sync', () => reflector.failingSince === null);
  }

  beforeEach(async () => {
    api = new ApiServerDouble({ bookmarkIntervalMs: 100 });
    await api.start();
    api.apply('Pod', { metadata: { namespace: 'x', name: 'a' } });
    failures = [];
    upserts = [];
    synced = 0;
  });

  afterEach(async () => {
    reflector.stop();
    await api.destroy();
  });

  test('ERROR events of any code: counted as error_event with the code, no relist, watches bounded', async () => {
    await startReflector();
    await until('synced', () => synced === 1);
    const n = await during(() => api.setWatchFault({ type: 'error', code: 500 }));
    expect(n.watches).toBeLessThanOrEqual(12); // main: 1,000+ in the same window
    expect(n.lists).toBe(0);
    expectBackoff('error_event');
    expect(failures[0]).toMatchObject({ phase: 'watch', reason: 'error_event', code: 500 });
    expect(reflector.failingSince?.reason).toBe('error_event');
    await expectRecovery(() => api.setWatchFault(null));
  });

  test('410 ERROR on every watch: each relist waits for the backoff instead of looping', async () => {
    await startReflector();
    await until('synced', () => synced === 1);
    const n = await during(() => api.setWatchFault({ type: 'error', code: 410 }));
    expect(n.lists).toBeGreaterThanOrEqual(3); // a relist after 410 is normal...
    expect(n.lists).toBeLessThanOrEqual(12); // ...but not in a tight loop (main: 800+ full lists)
    expect(n.watches).toBeLessThanOrEqual(12);
    expectBackoff('expired');
    expect(failures[0]).toMatchObject({ phase: 'watch', reason: 'expired', code: 410 });
    await expectRecovery(() => api.setWatchFault(null));
  });

  test('a watch that ends at once without any event is a failure (closed_early)', async () => {
    await startReflector();
    await until('synced', () => synced === 1);
    const n = await during(() => api.setWatchFault({ type: 'close' }));
    expect(n.watches).toBeLessThanOrEqual(12);
    expectBackoff('closed_early');
    await expectRecovery(() => api.setWatchFault(null));
  });

  test('a watch that sends nothing is aborted as stalled after the timeout, and counted', async () => {
    await startReflector();
    await until('synced', () => synced === 1);
    const n = await during(() => api.setWatchFault({ type: 'silent' }));
    // One watch per stall timeout plus backoff: 300 + 50, 300 + 100, ... in 2.5 s.
    expect(n.watches).toBeGreaterThanOrEqual(3);
    expect(n.watches).toBeLessThanOrEqual(8);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(failures.every((f) => f.reason === 'stalled' && f.phase === 'watch')).toBe(true);
    expect(reflector.failingSince?.reason).toBe('stalled');
    await expectRecovery(() => api.setWatchFault(null));
  });

  test('a stalled kind counts as out of sync since its last sign of life, not since the timeout noticed it', async () => {
    await startReflector();
    await until('synced', () => synced === 1);
    await new Promise((r) => setTimeout(r, 250));
    api.setWatchFault({ type: 'silent' });
    await until('stalled', () => failures.length > 0);
    const noticed = Date.now();
    expect(noticed - reflector.failingSince!.since).toBeGreaterThanOrEqual(250); // the stall timeout is 300 ms
  });

  test('a watch that sends half an event and stalls is aborted as stalled; the half event is not delivered', async () => {
    await startReflector();
    await until('synced', () => synced === 1);
    const n = await during(() => api.setWatchFault({ type: 'half' }));
    expect(n.watches).toBeGreaterThanOrEqual(3);
    expect(n.watches).toBeLessThanOrEqual(8);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(failures.every((f) => f.reason === 'stalled')).toBe(true);
    expect(upserts.some((name) => name.startsWith('hal'))).toBe(false);
    await expectRecovery(() => api.setWatchFault(null));
  });

  test('failing lists: counted as list_failed with the status, retried with backoff until the list works', async () => {
    api.setListFault(500);
    const n = await during(() => void startReflector());
    expect(n.lists).toBeGreaterThanOrEqual(4);
    expect(n.lists).toBeLessThanOrEqual(12);
    expect(n.watches).toBe(0);
    expectBackoff('list_failed');
    expect(failures[0]).toMatchObject({ phase: 'list', reason: 'list_failed', code: 500 });
    api.setListFault(null);
    await until('synced', () => synced === 1, 2000);
    await expectRecovery(() => undefined);
  });
});
