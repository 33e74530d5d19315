// Kubernetes objects for a scenario's cluster, as the API server would hold them. Shared by the offline
// evaluation (nftpol matrix --scenario) and the sandbox cluster, so both see the same pods.
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { Labels } from '../model/types.js';
import type { ScenarioPod } from './format.js';

export function nodeName(index: number): string {
  return `node-${index}`;
}

export function podObject(pod: ScenarioPod, labels: Labels = pod.labels): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: pod.namespace, name: pod.name, labels: { ...labels } },
    spec: {
      nodeName: nodeName(pod.node),
      hostNetwork: pod.hostNetwork,
      containers: [
        {
          name: 'serve',
          image: 'nftpol/sandbox',
          ports: pod.ports.map((p) => ({ containerPort: p.port, protocol: p.protocol, ...(p.name ? { name: p.name } : {}) })),
        },
      ],
    },
    status: { phase: 'Running', podIP: pod.ips[0], podIPs: pod.ips.map((ip) => ({ ip })) },
  };
}

export function namespaceObject(name: string, labels: Labels): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels } } };
}
