// At most one read of a costly source per interval, shared by every caller. /metrics reads the nft deny
// counters, and each read is an nft process competing with the syncs for the CPU and the nft lock: 32
// scrapers in a loop must cost one read per interval, as one scraper does.
export interface SharedReadOptions {
  /** A value read less than this long ago is served as it is. */
  readonly intervalMs: number;
  /** How long a caller waits for a read in flight before it gets the last value instead (the read goes on). */
  readonly maxWaitMs: number;
  /** Milliseconds, for tests; Date.now by default. */
  readonly now?: () => number;
}

export type ReadOutcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

export class SharedRead<T> {
  private value: T | undefined;
  /** When the last read ended, good or not: a failing source is not retried by every caller either. */
  private readAt = -Infinity;
  private inFlight: Promise<T | undefined> | null = null;
  private readonly now: () => number;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly options: SharedReadOptions,
    /** Told after every read: to count reads and log failures. */
    private readonly onRead: (outcome: ReadOutcome) => void = () => undefined,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The value of the last good read (undefined before the first); reads again only when it is due. */
  async get(): Promise<T | undefined> {
    if (this.now() - this.readAt < this.options.intervalMs) return this.value;
    const read = (this.inFlight ??= this.start());
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<T | undefined>((resolve) => {
      timer = setTimeout(() => resolve(this.value), this.options.maxWaitMs);
      timer.unref();
    });
    try {
      return await Promise.race([read, waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async start(): Promise<T | undefined> {
    try {
      this.value = await this.read();
      this.onRead({ ok: true });
    } catch (error) {
      // The last good value stays: counters that are a little old beat no counters.
      this.onRead({ ok: false, error });
    } finally {
      this.readAt = this.now();
      this.inFlight = null;
    }
    return this.value;
  }
}
