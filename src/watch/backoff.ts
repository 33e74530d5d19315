// Exponential backoff with jitter that forgets only after a healthy period, as client-go's reflector uses
// it (wait.Backoff with DelayWithReset): 800 ms doubling to a 30 s cap, each delay stretched by up to 100 %
// at random so that thousands of agents do not retry in step, and back to 800 ms once no delay was asked
// for during 2 minutes. A success does not reset it: a loop of "works for a moment, then fails" (a relist
// followed by a 410, a watch that ends at once) keeps backing off instead of hammering the API server.
// The one backoff of the agent: the reflectors' lists and watches and the reconciler's failed syncs use it,
// with the one default below (a failed nft transaction retried in a tight loop would hold a core too).

export interface BackoffOptions {
  /** The first delay. */
  readonly initialMs: number;
  /** The largest delay before jitter (with the default jitter, delays end in [maxMs, 2·maxMs)). */
  readonly maxMs: number;
  /** Growth per failure (default 2). */
  readonly factor?: number;
  /** Each delay d becomes d + random·jitter·d (default 1). */
  readonly jitter?: number;
  /** No delay asked for during this long: the next one starts again at initialMs (default 2 minutes). */
  readonly resetAfterMs?: number;
}

/**
 * client-go's reflector defaults (tools/cache/reflector.go): about 0.2 requests per second at the cap.
 * Every user of Backoff in the agent starts from this (agent.ts passes it unless configured otherwise).
 */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 800, maxMs: 30_000, factor: 2, jitter: 1, resetAfterMs: 120_000 };

export class Backoff {
  private readonly options: Required<BackoffOptions>;
  private current: number;
  private lastAsked: number | null = null;

  constructor(
    options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
    this.current = this.options.initialMs;
  }

  /** The delay before the next attempt; each call without a healthy pause in between lengthens the next. */
  next(): number {
    const now = this.now();
    if (this.lastAsked !== null && now - this.lastAsked >= this.options.resetAfterMs) this.current = this.options.initialMs;
    this.lastAsked = now;
    const base = this.current;
    this.current = Math.min(this.options.maxMs, base * this.options.factor);
    return Math.round(base + this.random() * this.options.jitter * base);
  }

  /** Starts again at the first delay. */
  reset(): void {
    this.current = this.options.initialMs;
    this.lastAsked = null;
  }
}
