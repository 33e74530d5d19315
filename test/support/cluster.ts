// Builds an offline cluster from YAML text, as the CLI does, for tests that assert verdicts.
import { decide } from '../../src/engine/decide.js';
import { buildCluster, type ManifestCluster } from '../../src/manifests/cluster.js';
import { parseManifests } from '../../src/manifests/load.js';
import type { Family, Protocol } from '../../src/model/types.js';

export function clusterOf(...yamlDocs: string[]): ManifestCluster {
  return buildCluster(parseManifests(yamlDocs.join('\n---\n'), 'test.yaml'));
}

export function allowed(cluster: ManifestCluster, from: string, to: string, port = 80, protocol: Protocol = 'TCP', family: Family = 'IPv4'): boolean {
  const src = from.includes('/') || !/^[\d.:a-f]+$/.test(from) ? { pod: from.includes('/') ? from : `default/${from}` } : { ip: from };
  const dst = to.includes('/') || !/^[\d.:a-f]+$/.test(to) ? { pod: to.includes('/') ? to : `default/${to}` } : { ip: to };
  return decide(cluster.engine, { src, dst, port, protocol, family }).allowed;
}

/** A pod manifest: `pod('x/a', {app: 'web'}, '10.244.0.10', {ports: ...})`. */
export function pod(
  key: string,
  labels: Record<string, string>,
  ips: string | string[],
  extra: { ports?: { name?: string; containerPort: number; protocol?: string }[]; hostNetwork?: boolean; node?: string; phase?: string } = {},
): string {
  const [namespace, name] = key.split('/');
  const list = Array.isArray(ips) ? ips : [ips];
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels },
    spec: { nodeName: extra.node ?? 'node-0', hostNetwork: extra.hostNetwork ?? false, containers: [{ name: 'c', ports: extra.ports ?? [] }] },
    status: { phase: extra.phase ?? 'Running', podIPs: list.map((ip) => ({ ip })) },
  });
}

export function namespace(name: string, labels: Record<string, string> = {}): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

export function policy(key: string, spec: Record<string, unknown>): string {
  const [namespace, name] = key.split('/');
  return JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec });
}
