// Time as the agent's loops see it: a monotonic clock for latencies, the wall clock for timestamps, and
// timers. Injected (the system clock by default) so that tests of retries, pacing and latencies advance a
// fake clock instead of sleeping, and the loops behave the same under test as in production.

/** A timer handle: whatever setTimeout returned, given back to clearTimeout. */
export type TimerHandle = unknown;

export interface Clock {
  /** Monotonic time in nanoseconds (process.hrtime.bigint()): what latencies are measured in. */
  hrtime(): bigint;
  /** Wall-clock milliseconds since the epoch (Date.now()): timestamps, the backoff's healthy period. */
  now(): number;
  /** Runs `run` once after `ms`; the timer does not keep the process alive when `unref` is set. */
  setTimeout(run: () => void, ms: number, options?: { readonly unref?: boolean }): TimerHandle;
  clearTimeout(timer: TimerHandle): void;
}

export const systemClock: Clock = {
  hrtime: () => process.hrtime.bigint(),
  now: () => Date.now(),
  setTimeout(run, ms, options) {
    const timer = setTimeout(run, ms);
    if (options?.unref) timer.unref();
    return timer;
  },
  clearTimeout(timer) {
    clearTimeout(timer as NodeJS.Timeout);
  },
};
