// make e2e: every scenario (../shared/scenarios/examples, e2e/scenarios and the upstream cases in
// e2e/conformance) in the sandbox cluster with the agents, then a control run of each without agents
// (ENFORCER=off), in which every probe to a served port must connect: proof that the blocking seen with
// agents comes from nftpol. Then the lifecycle cases (e2e/lifecycle). API=real (the default; make k8s-bin)
// runs them all against one real control plane, API=double against the API server double.
//
// ENFORCER=nftpol,kube-router (a comma-separated list; default nftpol) runs the same cases with each, against
// the same control plane. A peer's failures are printed with their mismatches as information about the
// peer: only nftpol's decide the exit status.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario, type Scenario } from '../../src/scenario/format.js';
import { controlScenario } from './control.js';
import { runAllLifecycles } from '../lifecycle/cases.js';
import { apiBackendFromEnv } from './api-choice.js';
import { CannotRun, type ApiBackend } from './backend.js';
import { isEnforcer, isPeer, type Enforcer } from './enforcer.js';
import { runScenario } from './run.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DIRS = [join(ROOT, '..', 'shared', 'scenarios', 'examples'), join(ROOT, 'e2e', 'scenarios'), join(ROOT, 'e2e', 'conformance')];

export function suiteScenarios(): Scenario[] {
  return DIRS.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => parseScenario(readFileSync(join(dir, f), 'utf8'))),
  );
}

/** One enforcer's results over the suite. */
export interface SuiteResult {
  readonly enforcer: Enforcer;
  readonly scenarios: { readonly name: string; readonly passed: boolean | null; readonly mismatches: number; readonly error?: string }[];
  /** Scenarios (with expectations) that passed, of those run. */
  readonly passed: number;
  readonly total: number;
  readonly lifecyclesPassed: boolean;
  /** Control runs (nftpol only) in which a served port did not connect. */
  readonly controlFailures: number;
}

/** Every scenario with `enforcer` (and, for nftpol, each control run), then the lifecycle cases. Prints one line each. */
export async function runSuite(enforcer: Enforcer, backend: ApiBackend, options: { lifecycles?: boolean; control?: boolean } = {}): Promise<SuiteResult> {
  const scenarios: SuiteResult['scenarios'][number][] = [];
  let controlFailures = 0;
  const peer = isPeer(enforcer);
  const tag = peer ? `[${enforcer}] ` : '';
  for (const scenario of suiteScenarios()) {
    const t = Date.now();
    try {
      const output = await runScenario(scenario, enforcer, {}, backend);
      const settle = Math.max(...output.steps.map((s) => s.settleSeconds));
      const mismatches = output.steps.flatMap((s) => s.mismatches);
      scenarios.push({ name: scenario.name, passed: output.passed, mismatches: mismatches.length });
      const verdict = output.passed === false ? (peer ? 'peer-fail' : 'FAIL') : 'ok  ';
      console.log(`${verdict} ${tag}${scenario.name} (${((Date.now() - t) / 1000).toFixed(1)} s, slowest step settled in ${(settle * 1000).toFixed(0)} ms)`);
      for (const m of mismatches) console.log(`     ${m.probe} ${m.from} -> ${m.to}: expected ${m.expected}, observed ${m.observed}`);
    } catch (error) {
      // A peer that cannot run a scenario is one of its results; nftpol's is the end of the suite.
      if (!peer || !(error instanceof CannotRun)) throw error;
      scenarios.push({ name: scenario.name, passed: false, mismatches: 0, error: error.message });
      console.log(`peer-fail ${tag}${scenario.name}: could not run: ${error.message.split('\n')[0]}`);
    }
    if (enforcer !== 'nftpol' || options.control === false) continue;
    const control = await runScenario(controlScenario(scenario), 'off', {}, backend);
    const problems = control.steps.flatMap((s, i) => s.mismatches.map((m) => `step ${i + 1} ${m.probe} ${m.from} -> ${m.to} blocked without nftpol`));
    if (problems.length > 0) controlFailures++;
    console.log(`${problems.length > 0 ? 'FAIL' : 'ok  '} ${scenario.name} with ENFORCER=off: every served port connects`);
    for (const p of problems) console.log(`     ${p}`);
  }
  // Then the lifecycles that scenario files cannot express (IP reuse, late addresses, traffic during changes).
  const lifecyclesPassed = options.lifecycles === false ? true : await runAllLifecycles(backend, enforcer);
  const judged = scenarios.filter((s) => s.passed !== null);
  return { enforcer, scenarios, passed: judged.filter((s) => s.passed).length, total: judged.length, lifecyclesPassed, controlFailures };
}

async function main(): Promise<number> {
  const enforcers = (process.env.ENFORCER || (process.env.AGENT === 'off' ? 'off' : 'nftpol')).split(',').map((e) => e.trim());
  const unknown = enforcers.find((e) => !isEnforcer(e));
  if (unknown) throw new CannotRun(`ENFORCER=${unknown}: want nftpol, kube-router, kube-network-policies or off`);
  const started = Date.now();
  const choice = await apiBackendFromEnv('real');
  const { backend } = choice;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void choice.stop().then(() => process.exit(130)));
  console.log(`API: ${backend.name === 'real' ? `kube-apiserver, ready in ${choice.startSeconds.toFixed(1)} s` : 'the API server double'}`);
  let failed = 0;
  const results: SuiteResult[] = [];
  try {
    for (const enforcer of enforcers as Enforcer[]) {
      if (enforcers.length > 1) console.log(`== ENFORCER=${enforcer}`);
      const result = await runSuite(enforcer, backend);
      results.push(result);
      if (!isPeer(result.enforcer)) failed += result.total - result.passed + result.controlFailures + (result.lifecyclesPassed ? 0 : 1);
    }
  } finally {
    await choice.stop();
  }
  for (const r of results) console.log(`${r.enforcer}: ${r.passed}/${r.total} scenarios passed, lifecycle cases ${r.lifecyclesPassed ? 'passed' : 'FAILED'}${isPeer(r.enforcer) ? ' (a peer: information, not a failure)' : ''}`);
  // SUITE_JSON=<file>: every enforcer's results, for the comparison (make bench-peers reads none of it: it runs its own).
  if (process.env.SUITE_JSON) writeFileSync(process.env.SUITE_JSON, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`${failed === 0 ? 'e2e passed' : `e2e FAILED (${failed})`} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(await main());
