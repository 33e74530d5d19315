// A Kubernetes cluster of real nodes on one machine, without Docker: the sandbox's real control plane
// (e2e/k8s/controlplane.ts) plus kube-scheduler, and per node a network namespace with its own containerd,
// kubelet and kube-proxy, pod networking by the CNI ptp plugin with host-local IPAM (10.244.<i>.0/24 per
// node), routed between nodes as kindnet routes them. Test tool; needs root.
//
// Layout:
// - a fabric namespace with a bridge: the control plane's namespace on it as 172.18.0.1, node i as
//   172.18.0.(i+2) with a route per other node's pod CIDR and a default route to the control plane
//   (which routes the pod CIDRs back), so that pods reach kube-apiserver through the `kubernetes` Service;
// - per node, one mount namespace (a slave of the root's, so nothing mounted inside leaks out and
//   everything mounted inside goes away with its last process) shared by its containerd and kubelet
//   (the kubelet's tmpfs volumes must be visible to the runtime), in the node's network namespace;
// - per node, one cgroup parent (the kubelet's --cgroup-root) in every v1 hierarchy; containerd and
//   therefore its shims and containers are in it, so stop() finds every process it must end by PID there;
// - the API reaches the root namespace on 127.0.0.1:<ephemeral port> (a byte relay to the control
//   plane's socket), so kubectl and e2e.test run on the host with an ordinary kubeconfig, as against kind.
// stop() ends every process by PID, removes every cgroup, namespace and directory, also after a failure.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClientCert } from '../k8s/certs.js';
import { binDir, ControlPlane, API_PORT } from '../k8s/controlplane.js';
import {
  certKubeconfig,
  cniConfDir,
  cniConfig,
  CLUSTER_CIDR,
  containerdConfig,
  containerdSocket,
  CONTROL_PLANE_FABRIC_IP,
  FABRIC_PREFIX,
  kubeletConfig,
  nodeFabricIp,
  podCidr,
  type NodeLayout,
} from './config.js';

/** Controllers a cluster with kubelets needs beyond the sandbox control plane's default set. */
const NODE_CONTROLLERS = [
  'daemonset-controller',
  'replicaset-controller',
  'deployment-controller',
  'garbage-collector-controller',
  'node-lifecycle-controller',
  'pod-garbage-collector-controller',
];
const CGROUP = '/sys/fs/cgroup';
const READY_TIMEOUT_MS = 240_000;

export interface NodeClusterOptions {
  readonly nodes: number;
  /** Image archives (docker-archive or OCI) imported into every node's containerd, in namespace k8s.io. */
  readonly images: readonly string[];
  /** Logs progress (phase and seconds). */
  readonly log?: (line: string) => void;
}

interface Proc {
  readonly name: string;
  readonly child: ResultPromise;
  readonly log: string;
}

async function run(file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await execa(file, args, { reject: false, ...(input !== undefined ? { input } : {}) });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${String(result.stderr).trim().split('\n').slice(-5).join(' | ')}`);
  return String(result.stdout);
}

async function ipBatch(namespace: string, commands: readonly string[]): Promise<void> {
  await run('ip', ['-n', namespace, '-batch', '-'], `${commands.join('\n')}\n`);
}

function tail(file: string, lines = 20): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
}

/** The cgroup v1 hierarchies (and the v2 `unified` one of a hybrid setup) this machine mounts. */
function hierarchies(): string[] {
  return readdirSync(CGROUP).filter((h) => {
    const path = join(CGROUP, h);
    return statSync(path).isDirectory() && existsSync(join(path, 'cgroup.procs'));
  });
}

export class NodeCluster {
  readonly prefix = `nftpol-node-${process.pid}`;
  readonly dir = mkdtempSync(join(tmpdir(), `nftpol-node-${process.pid}-`));
  readonly nodes: NodeLayout[] = [];
  plane: ControlPlane | undefined;
  private readonly namespaces: string[] = [];
  private readonly processes: Proc[] = [];
  private readonly holders = new Map<string, ResultPromise>();
  private readonly cgroups: string[] = [];
  private server: Server | undefined;
  /** The relay's open connections: close() waits for them, and watches (kubectl, e2e.test) can linger. */
  private readonly connections = new Set<Socket>();
  private port = 0;
  private readonly log: (line: string) => void;
  /** Seconds each phase of start() took. */
  readonly timings: Record<string, number> = {};

  private constructor(private readonly options: NodeClusterOptions) {
    this.log = options.log ?? (() => undefined);
  }

  fabric(): string {
    return `${this.prefix}-fab`;
  }

  /** A kubeconfig for the root namespace (kubectl, e2e.test): the admin token, the API on loopback. */
  get kubeconfig(): string {
    return join(this.dir, 'admin.kubeconfig');
  }

  static async start(options: NodeClusterOptions): Promise<NodeCluster> {
    const cluster = new NodeCluster(options);
    try {
      await cluster.boot();
      return cluster;
    } catch (error) {
      const logs = cluster.processes.map((p) => `--- ${p.name}\n${tail(p.log)}`).join('\n');
      await cluster.stop();
      throw new Error(`the node cluster did not start: ${(error as Error).message}\n${logs}`);
    }
  }

  private async phase<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = Date.now();
    const result = await work();
    this.timings[name] = Number(((Date.now() - start) / 1000).toFixed(1));
    this.log(`${name}: ${this.timings[name]} s`);
    return result;
  }

  private async boot(): Promise<void> {
    for (const binary of ['kubelet', 'kube-scheduler', 'kube-proxy']) {
      if (!existsSync(join(binDir(), binary))) throw new Error(`${binary} not built in ${binDir()}: NFTPOL_K8S_COMMANDS="kubelet kube-scheduler kube-proxy" e2e/k8s/build.sh`);
    }
    await this.phase('leftovers of dead runs', () => sweepDeadRuns());
    this.plane = await this.phase('control plane', () =>
      ControlPlane.start({ extraControllers: NODE_CONTROLLERS, extraApiServerArgs: ['--kubelet-preferred-address-types=InternalIP,Hostname'] }),
    );
    await this.phase('fabric', () => this.buildFabric());
    await this.phase('API on loopback', () => this.exposeApi());
    await this.phase('kube-scheduler', () => this.startScheduler());
    for (let i = 0; i < this.options.nodes; i++) {
      const name = `${this.prefix}-${i}`;
      this.nodes.push({ index: i, name, dir: join(this.dir, `n${i}`), cgroupRoot: `/${name}` });
    }
    await this.phase('nodes (containerd, images, kubelet, kube-proxy)', () => Promise.all(this.nodes.map((n) => this.startNode(n))));
    await this.phase('nodes Ready', () => this.nodesReady());
  }

  private async addNamespace(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    await ipBatch(name, ['link set lo up']);
  }

  private async buildFabric(): Promise<void> {
    const plane = this.plane!;
    await this.addNamespace(this.fabric());
    await ipBatch(this.fabric(), ['link add br0 type bridge', 'link set br0 up']);
    // The control plane's end of its veth is deleted with the fabric namespace (its peer lives there).
    await run('ip', ['-n', plane.namespace, 'link', 'add', 'fab0', 'type', 'veth', 'peer', 'name', 'cp', 'netns', this.fabric()]);
    await ipBatch(this.fabric(), ['link set cp master br0', 'link set cp up']);
    const planeRoutes = Array.from({ length: this.options.nodes }, (_, i) => `route add ${podCidr(i)} via ${nodeFabricIp(i)}`);
    await ipBatch(plane.namespace, [`addr add ${CONTROL_PLANE_FABRIC_IP}/${FABRIC_PREFIX} dev fab0`, 'link set fab0 up', ...planeRoutes]);
    for (let i = 0; i < this.options.nodes; i++) {
      const ns = `${this.prefix}-${i}`;
      await this.addNamespace(ns);
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', '-w', 'net.ipv4.conf.all.rp_filter=0', '-w', 'net.ipv4.conf.default.rp_filter=0']);
      await ipBatch(this.fabric(), [`link add f${i} type veth peer name eth0 netns ${ns}`, `link set f${i} master br0`, `link set f${i} up`]);
      const routes = Array.from({ length: this.options.nodes }, (_, k) => k)
        .filter((k) => k !== i)
        .map((k) => `route add ${podCidr(k)} via ${nodeFabricIp(k)}`);
      await ipBatch(ns, ['link set eth0 up', `addr add ${nodeFabricIp(i)}/${FABRIC_PREFIX} dev eth0`, `route add default via ${CONTROL_PLANE_FABRIC_IP}`, ...routes]);
    }
  }

  /** 127.0.0.1:<port> in the root namespace, relayed to the control plane's socket (TLS end to end). */
  private async exposeApi(): Promise<void> {
    const socket = this.plane!.apiSocket;
    this.server = createServer((client) => {
      this.connections.add(client);
      client.on('close', () => this.connections.delete(client));
      const upstream = connect(socket);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((listening) => this.server!.listen(0, '127.0.0.1', listening));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    const admin = JSON.parse(readFileSync(this.plane!.adminKubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    admin.clusters[0]!.cluster.server = `https://127.0.0.1:${this.port}`;
    writeFileSync(this.kubeconfig, JSON.stringify(admin), { mode: 0o600 });
  }

  /** A kubeconfig with a client certificate for `user` (in `groups`), reaching the API at `server`. */
  private async clientKubeconfig(name: string, user: string, groups: readonly string[], server: string): Promise<string> {
    const dir = join(this.dir, 'pki');
    mkdirSync(dir, { recursive: true });
    const { cert, key } = await makeClientCert(dir, this.plane!.ca, name, user, groups);
    const file = join(dir, `${name}.kubeconfig`);
    writeFileSync(file, certKubeconfig(server, this.plane!.ca.caCert, cert, key), { mode: 0o600 });
    return file;
  }

  private async startScheduler(): Promise<void> {
    const kubeconfig = await this.clientKubeconfig('kube-scheduler', 'system:kube-scheduler', [], `https://127.0.0.1:${API_PORT}`);
    this.spawn('kube-scheduler', ['ip', 'netns', 'exec', this.plane!.namespace, join(binDir(), 'kube-scheduler'), `--kubeconfig=${kubeconfig}`, `--authentication-kubeconfig=${kubeconfig}`, `--authorization-kubeconfig=${kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=10259']);
  }

  private spawn(name: string, command: readonly string[]): Proc {
    const log = join(this.dir, `${name}.log`);
    const child = execa(command[0]!, command.slice(1), { stdin: 'ignore', stdout: { file: log, append: true }, stderr: { file: log, append: true }, reject: false, buffer: false });
    const proc = { name, child, log };
    this.processes.push(proc);
    return proc;
  }

  /** Creates the node's cgroup parent in every hierarchy (cpuset needs its cpus and mems filled in). */
  private makeCgroups(node: NodeLayout): void {
    for (const h of hierarchies()) {
      const path = join(CGROUP, h, node.cgroupRoot);
      mkdirSync(path, { recursive: true });
      this.cgroups.push(path);
      if (h === 'cpuset') {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(path, file), readFileSync(join(CGROUP, h, file), 'utf8'));
      }
    }
  }

  /** Runs `command` in the node's network and mount namespaces, inside its cgroup parent (pids hierarchy). */
  private spawnOnNode(node: NodeLayout, name: string, command: readonly string[]): Proc {
    const holder = this.holders.get(node.name)!;
    const procs = hierarchies()
      .map((h) => join(CGROUP, h, node.cgroupRoot, 'cgroup.procs'))
      .join(' ');
    const script = `for f in ${procs}; do echo $$ > $f; done; exec nsenter -t ${holder.pid} -m -n -- "$@"`;
    return this.spawn(`${node.name}-${name}`, ['sh', '-c', script, 'sh', ...command]);
  }

  private async startNode(node: NodeLayout): Promise<void> {
    for (const sub of ['containerd', 'kubelet', 'cni', 'pod-logs']) mkdirSync(join(node.dir, sub), { recursive: true });
    this.makeCgroups(node);
    // The node's mount namespace: a slave of the root's, in the node's network namespace; a process that
    // only sleeps holds it while containerd, the kubelet and kube-proxy join it.
    const holder = execa('unshare', ['--mount', '--propagation', 'slave', 'nsenter', `--net=/run/netns/${node.name}`, '--', 'sleep', 'infinity'], { stdin: 'ignore', reject: false, buffer: false });
    this.holders.set(node.name, holder);
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (holder.exitCode !== null || holder.pid === undefined) throw new Error(`${node.name}: the namespace holder exited`);
    // unshare execs nsenter, which execs sleep: the holder's PID is sleep's, in the new mount namespace.

    const config = join(node.dir, 'containerd.toml');
    writeFileSync(config, containerdConfig(node));
    writeFileSync(join(cniConfDir(node), '10-ptp.conflist'), cniConfig(podCidr(node.index)));
    const containerd = this.spawnOnNode(node, 'containerd', ['containerd', '--config', config, '--log-level', 'warn']);
    await this.until(`${node.name} containerd`, async () => existsSync(containerdSocket(node)) && (await execa('ctr', ['-a', containerdSocket(node), 'version'], { reject: false })).exitCode === 0, containerd);
    for (const archive of this.options.images) await run('ctr', ['-a', containerdSocket(node), '-n', 'k8s.io', 'images', 'import', '--no-unpack=false', archive]);

    const server = `https://${CONTROL_PLANE_FABRIC_IP}:${API_PORT}`;
    const kubeletKubeconfig = await this.clientKubeconfig(`kubelet-${node.index}`, `system:node:${node.name}`, ['system:nodes'], server);
    const kubeletConfigFile = join(node.dir, 'kubelet.json');
    writeFileSync(kubeletConfigFile, kubeletConfig(node));
    this.spawnOnNode(node, 'kubelet', [
      join(binDir(), 'kubelet'),
      `--config=${kubeletConfigFile}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${join(node.dir, 'kubelet')}`,
      `--cert-dir=${join(node.dir, 'kubelet', 'pki')}`,
      `--hostname-override=${node.name}`,
      `--node-ip=${nodeFabricIp(node.index)}`,
      '--v=1',
    ]);
    const proxyKubeconfig = await this.clientKubeconfig(`kube-proxy-${node.index}`, 'system:kube-proxy', [], server);
    this.spawnOnNode(node, 'kube-proxy', [
      join(binDir(), 'kube-proxy'),
      `--kubeconfig=${proxyKubeconfig}`,
      `--hostname-override=${node.name}`,
      '--proxy-mode=nftables',
      `--cluster-cidr=${CLUSTER_CIDR}`,
      // No conntrack sysctls: those are the machine's, not the node's.
      '--conntrack-max-per-core=0',
      '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0',
      '--metrics-bind-address=127.0.0.1:10249',
      '--healthz-bind-address=127.0.0.1:10256',
    ]);
  }

  private async until(what: string, ready: () => Promise<boolean>, watched?: Proc, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      const exited = watched ? (watched.child.exitCode !== null ? watched : undefined) : this.processes.find((p) => p.child.exitCode !== null);
      if (exited) throw new Error(`${exited.name} exited (${exited.child.exitCode}) while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** kubectl as the admin, from the root namespace. */
  async kubectl(args: readonly string[], input?: string): Promise<string> {
    return run(join(binDir(), 'kubectl'), [`--kubeconfig=${this.kubeconfig}`, ...args], input);
  }

  /** Waits until every node is registered and Ready, then gives each its pod CIDR (what node-ipam would). */
  private async nodesReady(): Promise<void> {
    await this.until('every node Ready', async () => {
      const result = await execa(join(binDir(), 'kubectl'), [`--kubeconfig=${this.kubeconfig}`, 'get', 'nodes', '-o', 'json'], { reject: false });
      if (result.exitCode !== 0) return false;
      const nodes = (JSON.parse(String(result.stdout)) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] }).items;
      return nodes.length === this.options.nodes && nodes.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    });
    for (const node of this.nodes) {
      await this.kubectl(['patch', 'node', node.name, '--type=merge', '-p', JSON.stringify({ spec: { podCIDR: podCidr(node.index), podCIDRs: [podCidr(node.index)] } })]);
    }
  }

  /** The processes' logs (for failures). */
  logs(lines = 20): string {
    return this.processes.map((p) => `--- ${p.name}\n${tail(p.log, lines)}`).join('\n');
  }

  /** PIDs in a node's cgroup parent and below (pids hierarchy, or any other if absent). */
  private cgroupPids(node: NodeLayout): number[] {
    const h = hierarchies().includes('pids') ? 'pids' : hierarchies()[0]!;
    const pids: number[] = [];
    const walk = (path: string): void => {
      if (!existsSync(path)) return;
      for (const line of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) pids.push(Number(line));
      for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) walk(join(path, entry.name));
    };
    walk(join(CGROUP, h, node.cgroupRoot));
    return pids;
  }

  /**
   * Ends everything by PID: kube-proxy, the kubelet and containerd (SIGTERM, then SIGKILL), then every
   * process left in the node's cgroup parent (shims, containers), the mount namespace holders, the
   * scheduler and the control plane; removes the cgroups (deepest first), namespaces and the directory.
   */
  async stop(): Promise<void> {
    for (const p of this.processes.splice(0).reverse()) {
      if (p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        const killer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
        await p.child.catch(() => undefined);
        clearTimeout(killer);
      }
    }
    for (const node of this.nodes) {
      for (let round = 0; round < 50; round++) {
        const pids = this.cgroupPids(node);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    for (const holder of this.holders.values()) {
      holder.kill('SIGKILL');
      await holder.catch(() => undefined);
    }
    this.holders.clear();
    for (const path of this.cgroups.splice(0)) removeCgroup(path);
    for (const connection of this.connections) connection.destroy();
    await new Promise<void>((closed) => (this.server ? this.server.close(() => closed()) : closed()));
    for (const ns of this.namespaces.splice(0).reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
    await this.plane?.stop();
    // Mounts lived in the holders' mount namespaces, gone with them; nothing under dir is mounted here.
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** rmdir of a cgroup and its children, deepest first (a cgroup directory takes rmdir(2), not rm -r). */
function removeCgroup(path: string): void {
  if (!existsSync(path)) return;
  for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) removeCgroup(join(path, entry.name));
  try {
    rmdirSync(path);
  } catch {
    // a process is still in it, or it is already gone
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killAll(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (pids.length > 0) await new Promise((resolve) => setTimeout(resolve, 300));
}

/**
 * What a run killed with SIGKILL (no stop()) left, found by the PID in its names (nftpol-node-<pid>-...)
 * when that PID no longer runs: the processes in its cgroups and namespaces (ours: only these runs create
 * them), the cgroups, the control plane namespace joined to its fabric, the namespaces and the directory.
 */
export async function sweepDeadRuns(): Promise<string[]> {
  const swept: string[] = [];
  const dead = (name: string): boolean => {
    const match = /^nftpol-node-(\d+)-/.exec(name);
    return match !== null && Number(match[1]) !== process.pid && !alive(Number(match[1]));
  };
  const namespaces = (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  for (const fabric of namespaces.filter((n) => n.endsWith('-fab') && dead(n))) {
    // The control plane's namespace holds the peer of the fabric's `cp` veth (cluster.ts buildFabric).
    for (const ns of namespaces.filter((n) => n.endsWith('-cp'))) {
      const link = await execa('ip', ['-n', ns, '-o', 'link', 'show', 'fab0'], { reject: false });
      if (!String(link.stdout).includes(`link-netns ${fabric}`)) continue;
      const pids = (await run('ip', ['netns', 'pids', ns])).split('\n').filter(Boolean).map(Number);
      // The control plane's temp dir (controlplane.ts), named in its processes' arguments.
      const dirs = new Set(pids.flatMap((pid) => /(\/[^\0]*?\/nftpol-k8s-[A-Za-z0-9]+)\//.exec(safeRead(`/proc/${pid}/cmdline`))?.[1] ?? []));
      await killAll(pids);
      await execa('ip', ['netns', 'del', ns], { reject: false });
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      swept.push(ns, ...dirs);
    }
  }
  for (const h of hierarchies()) {
    for (const name of readdirSync(join(CGROUP, h)).filter(dead)) {
      const path = join(CGROUP, h, name);
      for (let round = 0; round < 20; round++) {
        const pids: number[] = [];
        const walk = (dir: string): void => {
          for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) pids.push(Number(line));
          for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
        };
        walk(path);
        if (pids.length === 0) break;
        await killAll(pids);
      }
      removeCgroup(path);
      swept.push(path);
    }
  }
  for (const ns of namespaces.filter(dead)) {
    await killAll((await run('ip', ['netns', 'pids', ns])).split('\n').filter(Boolean).map(Number));
    await execa('ip', ['netns', 'del', ns], { reject: false });
    swept.push(ns);
  }
  for (const name of readdirSync(tmpdir()).filter(dead)) {
    try {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
      swept.push(join(tmpdir(), name));
    } catch {
      // still mounted somewhere: left for the next sweep
    }
  }
  return swept;
}
