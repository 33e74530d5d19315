// Probing every ordered pair of a scenario's pods in the sandbox cluster, as the scenario format defines
// it: rows are sources, one character per destination, '.' connected, 'X' blocked, '-' the diagonal.
import type { Probe, Scenario, ScenarioPod, Step } from '../../src/scenario/format.js';
import { probeAddress, probeKey } from '../../src/scenario/format.js';
import type { SandboxCluster } from './cluster.js';

/** ClusterIPs: pod j gets 10.96.0.(10+j) and fd00:10:96::(10+j) for the cluster's families. */
export function serviceAddresses(scenario: Scenario): Map<string, string[]> {
  const out = new Map<string, string[]>();
  scenario.pods.forEach((pod, j) => {
    const ips: string[] = [];
    if (scenario.ipFamilies.includes('IPv4')) ips.push(`10.96.${Math.floor((10 + j) / 256)}.${(10 + j) % 256}`);
    if (scenario.ipFamilies.includes('IPv6')) ips.push(`fd00:10:96::${(10 + j).toString(16)}`);
    out.set(pod.key, ips);
  });
  return out;
}

function targetIp(services: Map<string, string[]>, to: ScenarioPod, probe: Probe): string | undefined {
  return probeAddress(probe, to.ips, services.get(to.key) ?? []);
}

/** SCTP: per destination one raw receiver, every other pod sends an INIT; '.' where it arrived. */
async function probeSctpMatrix(cluster: SandboxCluster, scenario: Scenario, services: Map<string, string[]>, probe: Probe): Promise<Record<string, string>> {
  const columns = await Promise.all(
    scenario.pods.map(async (to) => {
      const ip = targetIp(services, to, probe);
      // A destination that does not serve the port would refuse the association, whatever the policies.
      const serves = to.ports.some((p) => p.port === probe.port && p.protocol === 'SCTP');
      if (ip === undefined || !serves) return scenario.pods.map((from) => (from === to ? '-' : 'X'));
      // A generous window: on a busy 2-core machine starting the senders (python) can take a second.
      const receiver = cluster.sctpReceiver(to, probe.port, 3);
      await receiver.ready;
      await Promise.all(scenario.pods.filter((from) => from !== to).map((from) => cluster.sendSctpInit(from, ip, probe.port)));
      const arrived = await receiver.arrivals;
      return scenario.pods.map((from) => (from === to ? '-' : from.ips.some((a) => arrived.has(a)) ? '.' : 'X'));
    }),
  );
  return Object.fromEntries(scenario.pods.map((from, i) => [from.key, columns.map((column) => column[i]).join('')]));
}

/** One probe over every ordered pair, all at once. */
export async function probeMatrix(cluster: SandboxCluster, scenario: Scenario, services: Map<string, string[]>, probe: Probe, timeoutMs?: number): Promise<Record<string, string>> {
  if (probe.protocol === 'SCTP') return probeSctpMatrix(cluster, scenario, services, probe);
  const rows: Record<string, string> = {};
  await Promise.all(
    scenario.pods.map(async (from) => {
      const cells = await Promise.all(
        scenario.pods.map(async (to) => {
          if (from === to) return '-';
          const ip = targetIp(services, to, probe);
          if (ip === undefined) return 'X';
          return (await cluster.probe(from, { ip, port: probe.port, protocol: probe.protocol }, timeoutMs)) ? '.' : 'X';
        }),
      );
      rows[from.key] = cells.join('');
    }),
  );
  return Object.fromEntries(scenario.pods.map((p) => [p.key, rows[p.key]!]));
}

/** Every probe of a step, keyed as the scenario output keys them. */
export async function probeStep(cluster: SandboxCluster, scenario: Scenario, services: Map<string, string[]>, probes: readonly Probe[], timeoutMs?: number): Promise<Record<string, Record<string, string>>> {
  const results: Record<string, Record<string, string>> = {};
  for (const probe of probes) results[probeKey(probe)] = await probeMatrix(cluster, scenario, services, probe, timeoutMs);
  return results;
}

/**
 * Probes a step and, as upstream's suite does, probes again the cells that disagree with the step's
 * expectation (a slow machine can miss a timeout once), up to `retries` more times with a longer
 * timeout. Cells that still disagree are real mismatches.
 */
export async function probeStepWithRetries(
  cluster: SandboxCluster,
  scenario: Scenario,
  services: Map<string, string[]>,
  step: Step,
  retries = 3,
): Promise<Record<string, Record<string, string>>> {
  const results = await probeStep(cluster, scenario, services, step.probes);
  for (let attempt = 0; attempt < retries; attempt++) {
    const wrong = (step.probes.map((probe) => [probe, probeKey(probe)] as const)).flatMap(([probe, key]) =>
      Object.entries(step.expect?.[key] ?? {}).flatMap(([from, row]) =>
        [...row].flatMap((expected, i) => (expected !== '-' && results[key]![from]![i] !== expected ? [{ probe, key, from, i }] : [])),
      ),
    );
    if (wrong.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
    // SCTP is probed a whole matrix at a time (one receiver per destination): once per probe and attempt.
    const sctpAgain = new Map<string, Promise<Record<string, string>>>();
    await Promise.all(
      wrong.map(async ({ probe, key, from, i }) => {
        const src = scenario.pods.find((p) => p.key === from)!;
        const dst = scenario.pods[i]!;
        let cell: string;
        if (probe.protocol === 'SCTP') {
          if (!sctpAgain.has(key)) sctpAgain.set(key, probeSctpMatrix(cluster, scenario, services, probe));
          cell = (await sctpAgain.get(key)!)[from]![i]!;
        } else {
          const ip = targetIp(services, dst, probe);
          cell = ip !== undefined && (await cluster.probe(src, { ip, port: probe.port, protocol: probe.protocol }, 1000)) ? '.' : 'X';
        }
        const row = results[key]![from]!;
        results[key]![from] = row.slice(0, i) + cell + row.slice(i + 1);
      }),
    );
  }
  return results;
}
