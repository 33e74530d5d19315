// Probing on a real cluster: from each source pod, one `kubectl exec` runs every connection of a step at
// once (`/agnhost connect`, as upstream's netpol suite probes), each printing its index and exit status;
// the runner turns those lines into the scenario output's rows. Pure, unit-tested without a cluster.
import { probeAddress, type Probe, type Scenario } from '../../src/scenario/format.js';
import { familyOf } from '../../src/model/ip.js';

export interface ProbeTarget {
  /** Row key of the output (`80/TCP/service`...), and the destination's index in `pods` order. */
  readonly key: string;
  readonly to: number;
  readonly address: string;
  readonly port: number;
  readonly protocol: Probe['protocol'];
}

/** Host:port as agnhost connect takes it (IPv6 in brackets). */
function hostPort(address: string, port: number): string {
  return familyOf(address) === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * A POSIX shell script that runs every probe in the background and prints `<index> <exit status>` for
 * each; agnhost connect exits 0 only when the connection was made (TCP, SCTP) or answered (UDP).
 */
export function probeScript(targets: readonly ProbeTarget[], timeoutSeconds = 1): string {
  const lines = targets.map(
    (t, i) => `( /agnhost connect ${hostPort(t.address, t.port)} --timeout=${timeoutSeconds}s --protocol=${t.protocol.toLowerCase()} >/dev/null 2>&1; echo "${i} $?" ) &`,
  );
  return [...lines, 'wait', ''].join('\n');
}

/** Which targets connected, from the script's output; a target with no line (exec failed) did not. */
export function parseProbeOutput(output: string, count: number): boolean[] {
  const connected = Array.from({ length: count }, () => false);
  for (const line of output.split('\n')) {
    const match = /^(\d+) (\d+)$/.exec(line.trim());
    if (!match) continue;
    const index = Number(match[1]);
    if (index < count) connected[index] = match[2] === '0';
  }
  return connected;
}

/**
 * The targets one source pod probes in a step: each probe to every other pod (its pod address, or its
 * Service's ClusterIP), in the probe's family. Destinations without an address of that family are left
 * out and show as blocked, as in the sandbox runner.
 */
export function targetsFrom(
  from: number,
  scenario: Scenario,
  probes: readonly Probe[],
  key: (probe: Probe) => string,
  podIps: ReadonlyMap<string, readonly string[]>,
  serviceIps: ReadonlyMap<string, readonly string[]>,
): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  for (const probe of probes) {
    scenario.pods.forEach((to, j) => {
      if (j === from) return;
      const address = probeAddress(probe, podIps.get(to.key) ?? [], serviceIps.get(to.key) ?? []);
      if (address !== undefined) out.push({ key: key(probe), to: j, address, port: probe.port, protocol: probe.protocol });
    });
  }
  return out;
}

/** Result rows of one source pod: per probe key, one character per destination ('-' on the diagonal). */
export function rowsFor(from: number, podCount: number, probeKeys: readonly string[], targets: readonly ProbeTarget[], connected: readonly boolean[]): Record<string, string> {
  const rows: Record<string, string[]> = Object.fromEntries(probeKeys.map((k) => [k, Array.from({ length: podCount }, (_, j) => (j === from ? '-' : 'X'))]));
  targets.forEach((t, i) => {
    if (connected[i]) rows[t.key]![t.to] = '.';
  });
  return Object.fromEntries(Object.entries(rows).map(([k, cells]) => [k, cells.join('')]));
}
