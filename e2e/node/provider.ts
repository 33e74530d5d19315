// The kind runner's cluster provider (e2e/kind/provider.ts) for the local nodes of cluster.ts: make
// e2e-node. The images come from e2e/node/images.sh's cache (NFTPOL_IMAGES); daemonset/ is installed
// through a kustomization that references it and sets only the image (config.ts installKustomization).
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { binDir } from '../k8s/controlplane.js';
import { CannotRun, type ClusterProvider } from '../kind/provider.js';
import { NodeCluster } from './cluster.js';
import { installKustomization, nodeArchives } from './config.js';

export interface NodeProviderOptions {
  readonly root: string;
  readonly nodes: number;
  /** e2e/node/images.sh's output directory. */
  readonly images: string;
  /** The nftpol image to run (in the nftpol archive); default: daemonset/'s. */
  readonly image?: string;
}

export function imagesDir(): string {
  return process.env.NFTPOL_IMAGES ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'nftpol-images');
}

/** daemonset/'s image reference (what `make print-image` prints). */
export function shippedImage(root: string): string {
  const match = /^\s*image:\s*(\S+)/m.exec(readFileSync(join(root, 'daemonset', 'daemonset.yaml'), 'utf8'));
  if (!match) throw new Error('daemonset/daemonset.yaml names no image');
  return match[1]!;
}

export function nodeProvider(options: NodeProviderOptions): ClusterProvider & { cluster(): NodeCluster | undefined } {
  let cluster: NodeCluster | undefined;
  let installDir: string | undefined;
  const archives = () => (existsSync(options.images) ? nodeArchives(readdirSync(options.images)).map((f) => join(options.images, f)) : []);
  return {
    name: 'e2e-node',
    kubectl: join(binDir(), 'kubectl'),
    families: ['IPv4'],
    cluster: () => cluster,
    async supportsSctp() {
      // The nodes are namespaces of this machine's kernel: its SCTP is theirs.
      const probe = await execa('python3', ['-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)'], { reject: false });
      return probe.exitCode === 0;
    },
    async checkTools() {
      if (process.getuid?.() !== 0) throw new CannotRun('make e2e-node needs root (network namespaces, containerd, kubelet)');
      for (const tool of ['containerd', 'runc', 'ctr', 'nsenter', 'unshare', 'nft']) {
        const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
        if (found.exitCode !== 0) throw new CannotRun(`missing tool: ${tool} (make e2e-node installs containerd, runc, containernetworking-plugins, nftables)`);
      }
      if (!existsSync('/usr/lib/cni/ptp')) throw new CannotRun('missing /usr/lib/cni/ptp (apt-get install containernetworking-plugins)');
      for (const binary of ['kubectl', 'kubelet', 'kube-scheduler', 'kube-proxy']) {
        if (!existsSync(join(binDir(), binary))) throw new CannotRun(`${binary} not built in ${binDir()} (make e2e-node builds it)`);
      }
      const found = archives().map((a) => a.split('/').pop()!);
      for (const image of ['pause', 'agnhost', 'nftpol']) {
        if (!found.some((f) => f.startsWith(`${image}-`))) throw new CannotRun(`no ${image} image archive in ${options.images} (e2e/node/images.sh builds it)`);
      }
    },
    async create() {
      console.log(`starting ${options.nodes} local nodes (images: ${archives().map((a) => a.split('/').pop()).join(', ')})`);
      cluster = await NodeCluster.start({ nodes: options.nodes, images: archives(), log: (line) => console.log(`  ${line}`) });
      return cluster.kubeconfig;
    },
    async disableOtherEnforcement() {
      // The ptp plugin and kube-proxy enforce no NetworkPolicy: nothing to turn off (the control run shows it).
    },
    async prepareInstall() {
      const dir = mkdtempSync(join(tmpdir(), `nftpol-node-${process.pid}-install-`));
      installDir = dir;
      const shipped = shippedImage(options.root);
      writeFileSync(join(dir, 'kustomization.yaml'), installKustomization(relative(dir, join(options.root, 'daemonset')), shipped, options.image ?? shipped));
      return dir;
    },
    async destroy() {
      await cluster?.stop();
      cluster = undefined;
      if (installDir) rmSync(installDir, { recursive: true, force: true });
    },
  };
}
