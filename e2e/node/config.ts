// The configuration files of one sandbox node (e2e/node/cluster.ts): containerd's, the kubelet's, the CNI
// network's and the kubeconfigs. Pure: strings from a node's description, unit-tested without a node.

/** The pause image every node's containerd uses as sandbox_image (built by e2e/node/images.sh). */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.2';
/** Every node's pod CIDR is 10.244.<index>.0/24 inside this range, as kind's default podSubnet. */
export const CLUSTER_CIDR = '10.244.0.0/16';
/** The sandbox's fabric: the control plane is .1, node i is .(i+2), as in e2e/sandbox. */
export const FABRIC_PREFIX = 16;
export const CONTROL_PLANE_FABRIC_IP = '172.18.0.1';

export interface NodeLayout {
  /** Node i of the cluster (0-based). */
  readonly index: number;
  /** The Node object's name, also its network namespace's. */
  readonly name: string;
  /** The node's directory: containerd's root and state, the kubelet's root dir, logs, configs. */
  readonly dir: string;
  /** The node's cgroup parent (the kubelet's --cgroup-root), the same path in every hierarchy. */
  readonly cgroupRoot: string;
}

export function nodeFabricIp(index: number): string {
  return `172.18.0.${index + 2}`;
}

export function podCidr(index: number): string {
  return `10.244.${index}.0/24`;
}

export function containerdSocket(node: NodeLayout): string {
  return `${node.dir}/containerd.sock`;
}

export function cniConfDir(node: NodeLayout): string {
  return `${node.dir}/cni`;
}

/** containerd 1.6+ (config version 2): everything under the node's directory, cgroupfs, overlayfs. */
export function containerdConfig(node: NodeLayout, cniBinDir = '/usr/lib/cni'): string {
  return [
    'version = 2',
    `root = "${node.dir}/containerd/root"`,
    `state = "${node.dir}/containerd/state"`,
    '[grpc]',
    `  address = "${containerdSocket(node)}"`,
    '[ttrpc]',
    `  address = ""`,
    '[metrics]',
    `  address = ""`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    // Pod network namespaces as files of this node's state dir, not /run/netns (which other tools list).
    '  netns_mounts_under_state_dir = true',
    // This machine does not let root lower oom_score_adj (no CAP_SYS_RESOURCE): clamp to containerd's own.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "overlayfs"',
    '    default_runtime_name = "runc"',
    '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '      runtime_type = "io.containerd.runc.v2"',
    '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    '        SystemdCgroup = false',
    `        Root = "${node.dir}/runc"`,
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = "${cniBinDir}"`,
    `    conf_dir = "${cniConfDir(node)}"`,
    '',
  ].join('\n');
}

/**
 * The pod network, as kindnet configures it: the ptp plugin (one veth per pod, the node side holding
 * the gateway address, a /32 route per pod) with host-local IPAM from the node's pod CIDR, and the
 * portmap plugin for hostPort. Routes between nodes are the node's own (cluster.ts), not the CNI's.
 */
export function cniConfig(podSubnets: string | readonly string[], mtu = 1500): string {
  const subnets = typeof podSubnets === 'string' ? [podSubnets] : podSubnets;
  const v6 = (cidr: string) => cidr.includes(':');
  return `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'nftpol-node',
      plugins: [
        {
          type: 'ptp',
          ipMasq: false,
          mtu,
          ipam: {
            type: 'host-local',
            ranges: subnets.map((subnet) => [{ subnet }]),
            routes: subnets.map((subnet) => ({ dst: v6(subnet) ? '::/0' : '0.0.0.0/0' })),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * KubeletConfiguration for a node in a shared machine: cgroupfs under the node's own cgroup root, cgroup
 * v1 allowed (this machine has it), no swap check, no disk-pressure evictions (the disk is shared), pod
 * logs under the node's directory. The kubelet's API is anonymous and allows all: the sandbox's API
 * server has no kubelet client certificate, and port 10250 is reachable only on the sandbox's fabric.
 */
export function kubeletConfig(node: NodeLayout, clusterDns: readonly string[] = []): string {
  return `${JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: node.cgroupRoot,
      failSwapOn: false,
      address: nodeFabricIp(node.index),
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 10248,
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      containerRuntimeEndpoint: `unix://${containerdSocket(node)}`,
      clusterDomain: 'cluster.local',
      clusterDNS: clusterDns,
      podLogsDir: `${node.dir}/pod-logs`,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      localStorageCapacityIsolation: false,
      serializeImagePulls: false,
      resolvConf: '/etc/resolv.conf',
      maxPods: 110,
      // Pods start and stop faster: the node status and pod status loops are the test's clock.
      nodeStatusUpdateFrequency: '5s',
      syncFrequency: '10s',
    },
    null,
    2,
  )}\n`;
}

/** A kubeconfig with a client certificate (kubelet, kube-proxy, kube-scheduler). */
export function certKubeconfig(server: string, caCert: string, cert: string, key: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sandbox', cluster: { server, 'certificate-authority': caCert } }],
    users: [{ name: 'user', user: { 'client-certificate': cert, 'client-key': key } }],
    contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'user' } }],
    'current-context': 'sandbox',
  });
}

/**
 * The kustomization `make e2e-node` applies: daemonset/ exactly as shipped (`resources`, a path relative
 * to the kustomization, as kustomize requires), with only the image set through `images:`.
 */
export function installKustomization(daemonsetPath: string, shippedImage: string, image: string): string {
  const split = (ref: string) => {
    const at = ref.lastIndexOf(':');
    return at > ref.lastIndexOf('/') ? { name: ref.slice(0, at), tag: ref.slice(at + 1) } : { name: ref, tag: 'latest' };
  };
  const wanted = split(image);
  return [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    `  - ${daemonsetPath}`,
    'images:',
    `  - name: ${split(shippedImage).name}`,
    `    newName: ${wanted.name}`,
    `    newTag: "${wanted.tag}"`,
    '',
  ].join('\n');
}

/** The archives of e2e/node/images.sh's cache a node imports: the pause, agnhost and nftpol images. */
export function nodeArchives(files: readonly string[]): string[] {
  return files.filter((f) => /^(pause|agnhost|nftpol)-[^/]*\.tar$/.test(f)).sort();
}
