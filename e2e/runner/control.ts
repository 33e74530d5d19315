// The control run's expectations: without an enforcing agent, every probe to a served port connects.
// Shared by make e2e (sandbox, AGENT=off) and make e2e-kind (before nftpol is installed, to prove that
// kindnet's own enforcement is off).
import { probeKey, type Probe, type Scenario } from '../../src/scenario/format.js';

/**
 * The control: without agents, every probe to a served port must connect. Written as the steps'
 * expectations, so that a cell that misses once is probed again, as in the runs with agents.
 */
export function controlScenario(scenario: Scenario): Scenario {
  const row = (from: number, probe: Probe) =>
    scenario.pods.map((to, i) => (i === from || !to.ports.some((p) => p.port === probe.port && p.protocol === probe.protocol) ? '-' : '.')).join('');
  return {
    ...scenario,
    steps: scenario.steps.map((step) => ({
      ...step,
      expect: Object.fromEntries(step.probes.map((probe) => [probeKey(probe), Object.fromEntries(scenario.pods.map((p, i) => [p.key, row(i, probe)]))])),
    })),
  };
}
