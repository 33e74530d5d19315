// A clock that moves only when a test says so (src/watch/clock.ts): timers due by then run in order, and
// latencies read what the test advanced. Tests of retries, pacing and latencies then take no wall time.
import type { Clock, TimerHandle } from '../../src/watch/clock.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

export class ManualClock implements Clock {
  private ms: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(startMs = 1_700_000_000_000) {
    this.ms = startMs;
  }

  hrtime(): bigint {
    return BigInt(Math.round(this.ms * 1e6));
  }

  now(): number {
    return this.ms;
  }

  setTimeout(run: () => void, ms: number): TimerHandle {
    const seq = this.seq++;
    this.timers.set(seq, { at: this.ms + Math.max(0, ms), seq, run });
    return seq;
  }

  clearTimeout(timer: TimerHandle): void {
    this.timers.delete(timer as number);
  }

  /** Timers not yet run, by when they are due (ms from now). */
  pending(): number[] {
    return [...this.timers.values()].map((t) => t.at - this.ms).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running each timer that falls due on the way at its own time. */
  advance(ms: number): void {
    const end = this.ms + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.timers.values()) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (next === undefined) break;
      this.timers.delete(next.seq);
      this.ms = next.at;
      next.run();
    }
    this.ms = end;
  }
}

/** Turns of the event loop until `condition` holds (work in flight, not time, is what a test waits for). */
export async function turnsUntil(what: string, condition: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i >= maxTurns) throw new Error(`not reached after ${maxTurns} turns of the event loop: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
