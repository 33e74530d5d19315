// When a new verdict came into force between two sandbox pods, as probes saw it; shared by make bench-e2e
// and make bench-peers so that both measure "API write to enforced" the same way.
import type { SandboxRun } from '../e2e/runner/run.js';
import type { ScenarioPod } from '../src/scenario/format.js';

/** A connection not made in 30 ms (they take well under 1 ms here) is blocked. */
const PROBE_TIMEOUT_MS = 30;
export const PROBE_EVERY_MS = 2;
/** Probes with the new verdict, started one after another, that end a measurement. */
const AGREEING = 5;

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * When the new verdict for from -> to:80/TCP came into force. A probe starts every ~2 ms without waiting
 * for the ones before (a blocked connect takes its whole 30 ms timeout; probing one at a time would
 * measure towards "allowed" up to 30 ms late). The verdict is in force from the start of the earliest
 * probe after which every probe started saw it; probing ends once the last AGREEING probes, and every
 * probe started before them, have answered.
 */
export async function enforcedSince(run: SandboxRun, from: ScenarioPod, to: ScenarioPod, allowed: boolean, start: bigint, what: string, timeoutMs: number): Promise<bigint> {
  const probes: { startedAt: bigint; verdict: boolean | null }[] = [];
  const pending = new Set<Promise<void>>();
  for (;;) {
    const probe = { startedAt: process.hrtime.bigint(), verdict: null as boolean | null };
    probes.push(probe);
    // A bare connect, not curl: curl's start-up (several ms) would be measured instead of the verdict.
    const answered = run.cluster.probe(from, { ip: to.ips[0]!, port: 80, protocol: 'TCP' }, PROBE_TIMEOUT_MS, 'socket').then((connected) => {
      probe.verdict = connected;
      pending.delete(answered);
    });
    pending.add(answered);
    // Answered in full up to the first probe still open: the run of new verdicts at its end.
    const open = probes.findIndex((p) => p.verdict === null);
    const done = open === -1 ? probes : probes.slice(0, open);
    let first = done.length;
    while (first > 0 && done[first - 1]!.verdict === allowed) first--;
    if (done.length - first >= AGREEING) {
      await Promise.all(pending);
      return done[first]!.startedAt;
    }
    if (Number(process.hrtime.bigint() - start) / 1e6 > timeoutMs) throw new Error(`${what}: the new verdict (${allowed ? 'allowed' : 'denied'}) not observed within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
  }
}
