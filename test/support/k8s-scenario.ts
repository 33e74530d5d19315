// The sandbox cluster the real control plane tests share: a server on node 1, and on node 0 a client and a
// pod the policies keep out ("other"), probed on 80/TCP.
import { parseScenario, type Scenario } from '../../src/scenario/format.js';

export function serverClientOtherScenario(name: string): Scenario {
  return parseScenario(
    JSON.stringify({
      name,
      cluster: { nodes: 2 },
      namespaces: [{ name: 'x' }],
      pods: [
        { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }] },
        { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
        { namespace: 'x', name: 'other', labels: { role: 'other' }, node: 0 },
      ],
      steps: [{ probes: [{ port: 80, protocol: 'TCP' }] }],
    }),
  );
}
