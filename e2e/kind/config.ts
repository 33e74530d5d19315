// The kind cluster's configuration (provider.ts), pure so that it is unit-tested without Docker.
// - `kindnet` (the default, as before): kind's own CNI, whose NetworkPolicy enforcement the runner then turns off by pinning the last
//   kindnetd without it (an image from 2023);
// - `ptp` (KIND_CNI=ptp, preferred once a kind run confirms it): `disableDefaultCNI: true`, and the pod network e2e/node uses, the CNI ptp plugin
//   with host-local IPAM from each node's pod CIDR and a route per other node's pod CIDR, which is what
//   kindnetd itself configures, without any image to pull or enforcement to turn off.
import { familyOf } from '../../src/model/ip.js';

export type KindCni = 'ptp' | 'kindnet';

export function parseKindCni(value: string | undefined): KindCni {
  // kindnet stays the default until a kind run has shown ptp to hold (no Docker on the development machines).
  if (value === undefined || value === '' || value === 'kindnet') return 'kindnet';
  if (value === 'ptp') return 'ptp';
  throw new Error(`KIND_CNI=${value}: expected ptp or kindnet`);
}

/** One control plane and two workers, as before; ptp turns kind's default CNI off. */
export function kindConfig(ipFamily: string, cni: KindCni): string {
  return [
    'kind: Cluster',
    'apiVersion: kind.x-k8s.io/v1alpha4',
    'networking:',
    `  ipFamily: ${ipFamily}`,
    ...(cni === 'ptp' ? ['  disableDefaultCNI: true'] : []),
    'nodes:',
    '- role: control-plane',
    '- role: worker',
    '- role: worker',
    '',
  ].join('\n');
}

export interface RoutedNode {
  readonly name: string;
  readonly podCidrs: readonly string[];
  /** The node's InternalIP addresses (one per family in a dual-stack cluster). */
  readonly addresses: readonly string[];
}

/** `ip route replace` arguments on node `self`: each other node's pod CIDR via its address of the same family. */
export function ptpRoutes(self: string, nodes: readonly RoutedNode[]): string[] {
  const routes: string[] = [];
  for (const other of nodes) {
    if (other.name === self) continue;
    for (const cidr of other.podCidrs) {
      const family = familyOf(cidr.split('/')[0]!);
      const via = other.addresses.find((a) => familyOf(a) === family);
      if (via) routes.push(`${family === 'IPv6' ? '-6 ' : ''}route replace ${cidr} via ${via}`);
    }
  }
  return routes;
}
