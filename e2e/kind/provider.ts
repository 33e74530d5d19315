// Where the kind runner's cluster comes from (run.ts): kind itself (docker + kind), or the local nodes of
// e2e/node (containerd + kubelet in network namespaces, make e2e-node). The scenario part of the runner
// (agnhost pods, kubectl exec probes, the output JSON) is the same for both.
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cniConfig } from '../node/config.js';
import { kindConfig, ptpRoutes, type KindCni } from './config.js';

export class CannotRun extends Error {}

export interface ClusterProvider {
  /** Shown in the runner's output (`e2e-kind`, `e2e-node`). */
  readonly name: string;
  /** The kubectl binary the runner calls (with KUBECONFIG set to create()'s answer). */
  readonly kubectl: string;
  /** The IP families the cluster's pods have. */
  readonly families: readonly string[];
  /** Whether the nodes' kernel has SCTP: scenarios that serve or probe SCTP are skipped without it. */
  supportsSctp(): Promise<boolean>;
  /** Throws CannotRun when a tool the provider needs is missing. */
  checkTools(): Promise<void>;
  /** Creates (or reuses) the cluster; resolves with a kubeconfig path. */
  create(): Promise<string>;
  /** Makes sure nothing but nftpol enforces NetworkPolicy (the control scenario then proves it). */
  disableOtherEnforcement(): Promise<void>;
  /** Makes nftpol's image available on every node; resolves with the kustomization to `kubectl apply -k`. */
  prepareInstall(): Promise<string>;
  /** Deletes the cluster (unless the user asked to keep it). */
  destroy(): Promise<void>;
}

async function run(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const result = await execa(file, args, { reject: false, env });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${String(result.stderr).trim().split('\n').slice(-3).join(' ')}`);
  return String(result.stdout);
}

/** The last kindnetd without embedded NetworkPolicy enforcement (what kube-network-policies' CI pins). */
export const KINDNETD_WITHOUT_POLICIES = 'docker.io/kindest/kindnetd:v20230809-80a64d96';
/** Tables kindnetd's embedded policy controller leaves behind (named so since kind v0.25.0, and before). */
const KINDNET_TABLES = ['kindnet-network-policies', 'kube-network-policies'];

export interface KindOptions {
  readonly root: string;
  readonly cluster: string;
  readonly nodeImage: string;
  readonly ipFamily: string;
  /** `kindnet` (default): the pinned old kindnetd; `ptp`: kindnet off, the CNI ptp + host-local setup of e2e/node. */
  readonly cni: KindCni;
  readonly keep: boolean;
}

export function kindProvider(options: KindOptions): ClusterProvider {
  let kubeconfig = '';
  const nodes = async () => (await run('kind', ['get', 'nodes', '--name', options.cluster])).split('\n').filter(Boolean);
  return {
    name: 'e2e-kind',
    kubectl: 'kubectl',
    families: options.ipFamily === 'dual' ? ['IPv4', 'IPv6'] : options.ipFamily === 'ipv6' ? ['IPv6'] : ['IPv4'],
    async supportsSctp() {
      return true; // kind's nodes share the host's kernel; the scenarios then show whether it has SCTP
    },
    async checkTools() {
      for (const tool of ['docker', 'kind', 'kubectl']) {
        const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
        if (found.exitCode !== 0) throw new CannotRun(`missing tool: ${tool} (make e2e-kind needs docker, kind and kubectl)`);
      }
      const docker = await execa('docker', ['info'], { reject: false });
      if (docker.exitCode !== 0) throw new CannotRun('no Docker engine answers (docker info failed): kind needs one');
    },
    async create() {
      const existing = (await run('kind', ['get', 'clusters'])).split('\n');
      if (!existing.includes(options.cluster)) {
        const file = join(mkdtempSync(join(tmpdir(), 'nftpol-kind-')), 'kind.yaml');
        writeFileSync(file, kindConfig(options.ipFamily, options.cni));
        console.log(`creating kind cluster ${options.cluster} (${options.nodeImage}, ${options.ipFamily}, CNI ${options.cni})`);
        // With disableDefaultCNI the nodes stay NotReady until the CNI config exists: no --wait here.
        await run('kind', ['create', 'cluster', '--name', options.cluster, '--image', options.nodeImage, '--config', file, ...(options.cni === 'kindnet' ? ['--wait', '3m'] : [])]);
      }
      kubeconfig = join(mkdtempSync(join(tmpdir(), 'nftpol-kind-')), 'kubeconfig');
      writeFileSync(kubeconfig, await run('kind', ['get', 'kubeconfig', '--name', options.cluster]));
      if (options.cni === 'ptp') await installPtp(kubeconfig, nodes);
      return kubeconfig;
    },
    async disableOtherEnforcement() {
      if (options.cni === 'ptp') return; // no kindnet at all
      console.log(`turning kindnet's NetworkPolicy enforcement off (kindnetd ${KINDNETD_WITHOUT_POLICIES})`);
      const env = { KUBECONFIG: kubeconfig };
      await run('kubectl', ['-n', 'kube-system', 'set', 'image', 'daemonset/kindnet', `kindnet-cni=${KINDNETD_WITHOUT_POLICIES}`], env);
      await run('kubectl', ['-n', 'kube-system', 'rollout', 'status', 'daemonset/kindnet', '--timeout=3m'], env);
      for (const node of await nodes()) {
        for (const table of KINDNET_TABLES) await execa('docker', ['exec', node, 'nft', 'delete', 'table', 'inet', table], { reject: false });
      }
    },
    async prepareInstall() {
      const image = (await run('make', ['-s', '-C', options.root, '--no-print-directory', 'print-image'])).trim();
      console.log(`building and loading ${image}`);
      await run('make', ['-C', options.root, 'image']);
      await run('kind', ['load', 'docker-image', image, '--name', options.cluster]);
      return join(options.root, 'daemonset');
    },
    async destroy() {
      if (!options.keep) await execa('kind', ['delete', 'cluster', '--name', options.cluster], { reject: false });
    },
  };
}

/**
 * The e2e/node pod network on kind's nodes: per node, the ptp + host-local CNI config for its pod CIDR
 * (kind's kubeadm allocates them) and a route per other node's pod CIDR, as kindnetd would set them.
 */
async function installPtp(kubeconfig: string, nodeNames: () => Promise<string[]>): Promise<void> {
  const list = JSON.parse(await run('kubectl', ['get', 'nodes', '-o', 'json'], { KUBECONFIG: kubeconfig })) as {
    items: { metadata: { name: string }; spec: { podCIDR?: string; podCIDRs?: string[] }; status: { addresses?: { type: string; address: string }[] } }[];
  };
  const nodes = list.items.map((n) => ({
    name: n.metadata.name,
    podCidrs: n.spec.podCIDRs ?? (n.spec.podCIDR ? [n.spec.podCIDR] : []),
    addresses: (n.status.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
  }));
  for (const name of await nodeNames()) {
    const node = nodes.find((n) => n.name === name);
    if (!node) continue;
    await execa('docker', ['exec', '-i', name, 'sh', '-c', 'mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-ptp.conflist'], { input: cniConfig(node.podCidrs) });
    for (const route of ptpRoutes(node.name, nodes)) await execa('docker', ['exec', name, 'ip', ...route.split(' ')], { reject: false });
  }
  await run('kubectl', ['wait', '--for=condition=Ready', 'node', '--all', '--timeout=3m'], { KUBECONFIG: kubeconfig });
}
