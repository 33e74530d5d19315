// List, then watch from the list's resourceVersion, forever: the informer pattern, written on client-node's
// Watch so that nftpol keeps no copy of the API objects (the handler turns each into the engine's slim
// model at once; an informer cache would hold every full Pod).
// - Watch bookmarks are on; each event and bookmark advances the resourceVersion.
// - `410 Gone` (as an error event or a status) means the resourceVersion is too old: relist.
// - A broken or ended watch is resumed from the last resourceVersion after a backoff with jitter; a
//   failed list is retried the same way. A relist reports deletions of objects that are gone.
import type { KubernetesObject } from '@kubernetes/client-node';

/** The two calls a reflector needs; the agent implements them with client-node, tests with doubles. */
export interface ListerWatcher {
  /**
   * Lists every object, page by page (so that no more than a page of full objects is in memory at once),
   * and resolves with the list's resourceVersion.
   */
  list(onPage: (items: readonly KubernetesObject[]) => void): Promise<string>;
  /** Starts a watch; resolves once it is connected. `done` is called once when it ends, with the error if any. */
  watch(
    resourceVersion: string,
    onEvent: (type: string, object: KubernetesObject & { code?: number }) => void,
    done: (error: unknown) => void,
  ): Promise<{ abort(): void }>;
}

export interface ReflectorHandler {
  upsert(object: KubernetesObject): void;
  delete(object: KubernetesObject): void;
  /** The initial list (and every relist) has been delivered. */
  synced(): void;
  /** Something failed; the reflector retries by itself. */
  error(error: unknown, phase: 'list' | 'watch'): void;
  /** A watch is established (the API server answers). */
  connected?(): void;
}

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000 };

function objectKeyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

function isGone(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: number; body?: unknown } | null;
  return e !== null && typeof e === 'object' && (e.statusCode === 410 || e.code === 410);
}

export class Reflector {
  private resourceVersion = '';
  /** Keys only (`namespace/name`): enough to report deletions after a relist, and small. */
  private readonly known = new Set<string>();
  private current: { abort(): void } | null = null;
  private stopped = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly kind: string,
    private readonly source: ListerWatcher,
    private readonly handler: ReflectorHandler,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {}

  /** The resourceVersion of the last list, event or bookmark. */
  get version(): string {
    return this.resourceVersion;
  }

  /** How many objects the reflector knows now. */
  get size(): number {
    return this.known.size;
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.current?.abort();
    this.current = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    // Exponential backoff with full jitter, so that many agents do not reconnect in step.
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(this.failures, 20));
    const delay = this.failures === 0 ? 0 : Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.timer = setTimeout(() => void this.run(), delay);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (this.resourceVersion === '') {
      try {
        await this.relist();
        if (this.stopped) return;
      } catch (error) {
        this.failures++;
        this.handler.error(error, 'list');
        this.schedule();
        return;
      }
    }
    let ended = false;
    const done = (error: unknown) => {
      if (ended) return;
      ended = true;
      this.current = null;
      if (isGone(error)) this.resourceVersion = '';
      else if (error && (error as { name?: string }).name !== 'TimeoutError' && (error as { name?: string }).name !== 'AbortError') {
        this.failures++;
        this.handler.error(error, 'watch');
      }
      this.schedule();
    };
    try {
      this.current = await this.source.watch(this.resourceVersion, (type, object) => this.onEvent(type, object), done);
      if (this.stopped) this.current.abort();
      else if (!ended) this.handler.connected?.();
    } catch (error) {
      done(error);
    }
  }

  private onEvent(type: string, object: KubernetesObject & { code?: number }): void {
    if (type === 'ERROR') {
      // 410: our resourceVersion was compacted away; the watch ends and the next run relists.
      if (object.code === 410) this.resourceVersion = '';
      this.current?.abort();
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') return;
    this.failures = 0;
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

  /** A (re)list: objects not in it were deleted while we were not watching. */
  private async relist(): Promise<void> {
    const seen = new Set<string>();
    const resourceVersion = await this.source.list((items) => {
      for (const object of items) {
        const key = objectKeyOf(object);
        seen.add(key);
        this.known.add(key);
        this.handler.upsert(object);
      }
    });
    for (const key of this.known) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      this.handler.delete({ metadata: { name: key.slice(slash + 1), ...(namespace ? { namespace } : {}) } });
    }
    this.resourceVersion = resourceVersion;
    this.failures = 0;
    this.handler.synced();
  }
}
