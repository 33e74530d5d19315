// make e2e: every scenario (../shared/scenarios/examples and e2e/scenarios) in the sandbox cluster with the
// agents, then a control run of each without agents (AGENT=off), in which every probe to a served port
// must connect: proof that the blocking seen with agents comes from nftpol. Then the lifecycle cases
// (e2e/lifecycle). API=real (the default; make k8s-bin) runs them all against one real control plane,
// API=double against the API server double.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario, type Scenario } from '../../src/scenario/format.js';
import { controlScenario } from './control.js';
import { runAllLifecycles } from '../lifecycle/cases.js';
import { apiBackendFromEnv } from './api-choice.js';
import { runScenario } from './run.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DIRS = [join(ROOT, '..', 'shared', 'scenarios', 'examples'), join(ROOT, 'e2e', 'scenarios'), join(ROOT, 'e2e', 'conformance')];

function scenarios(): { scenario: Scenario }[] {
  return DIRS.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => ({ scenario: parseScenario(readFileSync(join(dir, f), 'utf8')) })),
  );
}

let failed = 0;
const started = Date.now();
const choice = await apiBackendFromEnv('real');
const { backend } = choice;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void choice.stop().then(() => process.exit(130)));
console.log(`API: ${backend.name === 'real' ? `kube-apiserver, ready in ${choice.startSeconds.toFixed(1)} s` : 'the API server double'}`);
try {
  for (const { scenario } of scenarios()) {
    const t = Date.now();
    const output = await runScenario(scenario, false, {}, backend);
    const settle = Math.max(...output.steps.map((s) => s.settleSeconds));
    const mismatches = output.steps.flatMap((s) => s.mismatches);
    if (output.passed === false) failed++;
    console.log(`${output.passed === false ? 'FAIL' : 'ok  '} ${scenario.name} (${((Date.now() - t) / 1000).toFixed(1)} s, slowest step settled in ${(settle * 1000).toFixed(0)} ms)`);
    for (const m of mismatches) console.log(`     ${m.probe} ${m.from} -> ${m.to}: expected ${m.expected}, observed ${m.observed}`);
    const control = await runScenario(controlScenario(scenario), true, {}, backend);
    const problems = control.steps.flatMap((s, i) => s.mismatches.map((m) => `step ${i + 1} ${m.probe} ${m.from} -> ${m.to} blocked without nftpol`));
    if (problems.length > 0) failed++;
    console.log(`${problems.length > 0 ? 'FAIL' : 'ok  '} ${scenario.name} with AGENT=off: every served port connects`);
    for (const p of problems) console.log(`     ${p}`);
  }
  // Then the lifecycles that scenario files cannot express (IP reuse, late addresses, traffic during changes).
  if (!(await runAllLifecycles(backend))) failed++;
} finally {
  await choice.stop();
}
console.log(`${failed === 0 ? 'e2e passed' : `e2e FAILED (${failed})`} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failed === 0 ? 0 : 1);
