// List, then watch from the list's resourceVersion, forever: the informer pattern, written on a plain
// streaming watch so that nftpol keeps no copy of the API objects (the handler turns each into the engine's
// slim model at once; an informer cache would hold every full Pod).
// What the API server may do, and what the reflector does then (as client-go's reflector does):
// - an event or bookmark: deliver it and advance the resourceVersion (bookmarks are on: a healthy watch is
//   never silent for long);
// - a watch that ends after a while, or after delivering events: resume at once from the last
//   resourceVersion (the API server ends every watch after its timeout);
// - `410 Gone` (an ERROR event or a status): the resourceVersion was compacted away; relist, after the
//   backoff like every other failure, so that a loop of 410s cannot turn into a loop of full lists;
// - any other ERROR event, a failed list or watch request, a broken stream, a line that is not an event,
//   a watch that ends within a second without any event, a watch silent beyond the stall timeout: a
//   failure, reported with its reason and retried after the backoff (src/watch/backoff.ts).
import type { KubernetesObject } from '@kubernetes/client-node';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';

export { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';

/** What a watch event carries: an object, or for ERROR a Status with its code. */
export type WatchEventObject = KubernetesObject & { code?: number; reason?: string; message?: string };

/** The two calls a reflector needs; the agent implements them over HTTP, tests with doubles. */
export interface ListerWatcher {
  /**
   * Lists every object, page by page (so that no more than a page of full objects is in memory at once),
   * and resolves with the list's resourceVersion.
   */
  list(onPage: (items: readonly KubernetesObject[]) => void): Promise<string>;
  /**
   * Starts a watch; resolves once it is connected (or has failed: then `done` has been called). `done` is
   * called once when it ends, with the error if any; abort() ends it too.
   */
  watch(resourceVersion: string, onEvent: (type: string, object: WatchEventObject) => void, done: (error: unknown) => void): Promise<{ abort(): void }>;
}

/** Why a list or watch did not go on; the `reason` label of nftpol_watch_failures_total. */
export type WatchFailureReason =
  /** The list request failed. */
  | 'list_failed'
  /** The watch request failed (refused, not 200, no answer). */
  | 'watch_failed'
  /** 410 Gone: the resourceVersion is too old; a relist follows (normal once in a while). */
  | 'expired'
  /** An ERROR event with another code (429, 500, ...). */
  | 'error_event'
  /** The stream broke, or carried a line that is not a watch event. */
  | 'broken'
  /** The watch ended within a second without a single event (client-go's "very short watch"). */
  | 'closed_early'
  /** Connected, but no event or bookmark within the stall timeout. */
  | 'stalled';

export interface WatchFailure {
  readonly phase: 'list' | 'watch';
  readonly reason: WatchFailureReason;
  readonly error: unknown;
  /** The HTTP status or the ERROR event's code, when there is one. */
  readonly code?: number;
  /** The delay before the next attempt. */
  readonly retryInMs: number;
}

export interface ReflectorHandler {
  upsert(object: KubernetesObject): void;
  delete(object: KubernetesObject): void;
  /** The initial list (and every relist) has been delivered. */
  synced(): void;
  /** Something failed; the reflector retries by itself after `failure.retryInMs`. */
  error(failure: WatchFailure): void;
}

export interface ReflectorOptions {
  readonly backoff?: BackoffOptions;
  /**
   * A watch without any event or bookmark for this long is aborted as stalled. The API server sends a
   * bookmark to every watch about once a minute, so a quiet kind stays well under the default.
   */
  readonly stallTimeoutMs?: number;
  /** A watch that ends sooner than this without an event is a failure (client-go: 1 s). */
  readonly shortWatchMs?: number;
  readonly now?: () => number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 180_000;

function objectKeyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

function statusOf(error: unknown): number | undefined {
  const e = error as { statusCode?: unknown; code?: unknown } | null;
  if (e === null || typeof e !== 'object') return undefined;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return typeof e.code === 'number' ? e.code : undefined;
}

export class Reflector {
  private resourceVersion = '';
  /**
   * Set by a 410 (and at first): the next attempt lists. Kept apart from the resourceVersion, which stays
   * the last one read until the relist replaces it: everything up to it has been delivered, and a sync in
   * between reports that instead of nothing (the reported version never goes back).
   */
  private mustList = true;
  /** Keys only (`namespace/name`): enough to report deletions after a relist, and small. */
  private readonly known = new Set<string>();
  private current: { abort(): void } | null = null;
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  private readonly stallTimeoutMs: number;
  private readonly shortWatchMs: number;
  private readonly now: () => number;
  /** Since when this kind has been failing (no event or bookmark since its first failure), or null. */
  private failing: { since: number; reason: WatchFailureReason } | null = null;
  /** Bumped by every watch and by stop(): late callbacks of an earlier watch are ignored. */
  private generation = 0;

  constructor(
    readonly kind: string,
    private readonly source: ListerWatcher,
    private readonly handler: ReflectorHandler,
    options: ReflectorOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF, this.now);
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.shortWatchMs = options.shortWatchMs ?? 1000;
  }

  /** The resourceVersion of the last list, event or bookmark (kept while a relist is pending). */
  get version(): string {
    return this.resourceVersion;
  }

  /** How many objects the reflector knows now. */
  get size(): number {
    return this.known.size;
  }

  /**
   * Since when (ms since the epoch) and why this kind has been out of sync: from its first failure until a
   * watch delivers an event or a bookmark again. Null while in sync.
   */
  get failingSince(): { since: number; reason: WatchFailureReason } | null {
    return this.failing;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.timer = this.stallTimer = null;
    const current = this.current;
    this.current = null;
    current?.abort();
  }

  private retryAfter(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delayMs);
  }

  /** `since`: when the kind stopped being in sync, if before now (a stalled watch: its last event). */
  private fail(phase: 'list' | 'watch', reason: WatchFailureReason, error: unknown, code?: number, since = this.now()): void {
    if (this.stopped) return;
    const retryInMs = this.backoff.next();
    this.failing = { since: this.failing?.since ?? since, reason };
    this.handler.error({ phase, reason, error, retryInMs, ...(code !== undefined ? { code } : {}) });
    this.retryAfter(retryInMs);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (this.mustList) {
      const generation = this.generation;
      try {
        await this.relist();
      } catch (error) {
        if (generation === this.generation) this.fail('list', 'list_failed', error, statusOf(error));
        return;
      }
      if (this.stopped || generation !== this.generation) return;
    }
    this.watch();
  }

  private watch(): void {
    const generation = ++this.generation;
    const started = this.now();
    let lastEvent = started;
    let events = 0;
    // Whoever ends the watch first (the stream, an ERROR event, the stall timer) decides how it ended.
    let ended = false;
    let handle: { abort(): void } | null = null;

    const finish = (reason: WatchFailureReason | null, error: unknown, code?: number, since?: number) => {
      if (ended || generation !== this.generation) return;
      ended = true;
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = null;
      this.current = null;
      handle?.abort();
      if (reason === null) {
        // Ended normally (the API server's timeout) after a while or after events: resume at once.
        void this.run();
      } else {
        if (reason === 'expired') this.mustList = true;
        this.fail('watch', reason, error, code, since);
      }
    };
    const armStallTimer = () => {
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = setTimeout(
        // Out of sync since the last sign of life, not since the timeout noticed it.
        () => finish('stalled', new Error(`no event or bookmark for ${Math.round(this.stallTimeoutMs / 1000)} s`), undefined, lastEvent),
        this.stallTimeoutMs,
      );
    };
    const onEvent = (type: string, object: WatchEventObject) => {
      if (ended || generation !== this.generation) return;
      if (type === 'ERROR') {
        const code = typeof object.code === 'number' ? object.code : undefined;
        const error = new Error(`watch ERROR event: ${code ?? 'no code'} ${object.reason ?? ''} ${object.message ?? ''}`.trim());
        finish(code === 410 ? 'expired' : 'error_event', error, code);
        return;
      }
      if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') return;
      events++;
      lastEvent = this.now();
      this.failing = null;
      armStallTimer();
      this.deliver(type, object);
    };
    const done = (error: unknown) => {
      if (error) {
        const code = statusOf(error);
        if (code === 410) finish('expired', error, code);
        else finish(handle === null && events === 0 ? 'watch_failed' : 'broken', error, code);
      } else if (events === 0 && this.now() - started < this.shortWatchMs) {
        finish('closed_early', new Error('the watch ended at once without any event'));
      } else {
        finish(null, null);
      }
    };

    armStallTimer();
    this.source.watch(this.resourceVersion, onEvent, done).then(
      (h) => {
        if (ended || generation !== this.generation) h.abort();
        else this.current = handle = h;
      },
      (error: unknown) => done(error ?? new Error('watch failed')),
    );
  }

  private deliver(type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK', object: WatchEventObject): void {
    // Advance first: whatever the handler triggers may already report the version as seen.
    const version = object.metadata?.resourceVersion;
    if (version) this.resourceVersion = version;
    if (type === 'DELETED') {
      this.known.delete(objectKeyOf(object));
      this.handler.delete(object);
    } else if (type !== 'BOOKMARK') {
      this.known.add(objectKeyOf(object));
      this.handler.upsert(object);
    }
  }

  /**
   * A (re)list: objects not in it were deleted while we were not watching. Their deletions carry the
   * list's resourceVersion (they happened at or before it), so that while one waits to be applied the
   * version reported as applied stays below the list's (fairqueue.ts appliedVersion).
   */
  private async relist(): Promise<void> {
    const seen = new Set<string>();
    const resourceVersion = await this.source.list((items) => {
      if (this.stopped) return;
      for (const object of items) {
        const key = objectKeyOf(object);
        seen.add(key);
        this.known.add(key);
        this.handler.upsert(object);
      }
    });
    if (this.stopped) return;
    for (const key of this.known) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      this.handler.delete({ metadata: { name: key.slice(slash + 1), resourceVersion, ...(namespace ? { namespace } : {}) } });
    }
    this.resourceVersion = resourceVersion;
    this.mustList = false;
    this.handler.synced();
  }
}
