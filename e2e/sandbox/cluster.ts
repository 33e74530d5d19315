// A cluster made of network namespaces on one machine, wired as kindnet wires kind. Test tool.
// - A fabric namespace holds a bridge that joins the nodes (node i: 172.18.0.(i+2), fd00:172:18::(i+2)).
// - Each node is a namespace that routes: a /32 (/128) route per local pod over the pod's veth, and a
//   route per other node's pod CIDR via that node.
// - Each pod is a namespace with eth0 (its addresses as /32 and /128) and a default route to the node.
// - ClusterIPs are DNAT rules in each node, in a table of their own, as kube-proxy would install them: on
//   prerouting for pods' traffic and on output for the node's own (hostNetwork pods), with a route for the
//   Service ranges so that a node's socket can send to a ClusterIP before the DNAT picks the real target.
// - Each pod runs one podproc process that serves its ports and probes on request.
// Nothing outside these namespaces is touched; destroy() removes every namespace and process, and the
// names carry a unique prefix so that runs never collide.
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { familyOf } from '../../src/model/ip.js';
import type { Family, Protocol } from '../../src/model/types.js';
import { nodeIp, type ScenarioPod } from '../../src/scenario/format.js';

export interface ProbeTarget {
  readonly ip: string;
  readonly port: number;
  readonly protocol: Protocol;
}

interface PodProcess {
  readonly child: ResultPromise;
  readonly pending: Map<number, (ok: boolean) => void>;
  nextId: number;
}

/** The Service ranges ClusterIPs come from (FORMAT.md, "Addressing"). */
export const SERVICE_CIDRS = { IPv4: '10.96.0.0/16', IPv6: 'fd00:10:96::/112' } as const;

/** Where the sandbox's control plane listens (on the fabric bridge). */
export const CONTROL_PLANE_IP = '172.18.0.1';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the sources (e2e/sandbox) or the build (dist/e2e/sandbox). */
const root = here.includes(join('dist', 'e2e')) ? join(here, '..', '..', '..') : join(here, '..', '..');
/** The pod process is always the built one: the tests run TypeScript in jest, pods run plain Node. */
const PODPROC = join(root, 'dist', 'e2e', 'sandbox', 'podproc.js');
const SCTP_INIT = join(root, 'e2e', 'sandbox', 'sctp_init.py');

async function ip(args: string[], input?: string): Promise<void> {
  const result = await execa('ip', args, { reject: false, ...(input !== undefined ? { input } : {}) });
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(' ')} failed: ${String(result.stderr).trim()}`);
}

/** Runs a batch of `ip` commands inside one namespace (`ip -n NS -batch -`). */
async function ipBatch(namespace: string, commands: string[]): Promise<void> {
  if (commands.length > 0) await ip(['-n', namespace, '-batch', '-'], commands.join('\n') + '\n');
}

async function sysctl(namespace: string, settings: Record<string, string>): Promise<void> {
  const args = Object.entries(settings).flatMap(([k, v]) => ['-w', `${k}=${v}`]);
  const result = await execa('ip', ['netns', 'exec', namespace, 'sysctl', '-q', ...args], { reject: false });
  if (result.exitCode !== 0) throw new Error(`sysctl in ${namespace} failed: ${String(result.stderr).trim()}`);
}

export interface SandboxOptions {
  readonly nodes: number;
  readonly families: readonly Family[];
  readonly pods: readonly ScenarioPod[];
  /** ClusterIP per pod key, one per family (services DNAT to the pod's address, same port). */
  readonly services?: ReadonlyMap<string, readonly string[]>;
  /**
   * A real control plane's network namespace (e2e/k8s/controlplane.ts), which outlives the cluster: it
   * joins the fabric bridge as CONTROL_PLANE_IP, and every node reaches it as the `kubernetes` Service.
   */
  readonly controlPlane?: { readonly namespace: string; readonly port: number; readonly serviceIp: string };
}

export class SandboxCluster {
  readonly prefix = `nftpol${randomBytes(3).toString('hex')}`;
  private readonly namespaces: string[] = [];
  private readonly processes = new Map<string, PodProcess>();
  private readonly extra: ResultPromise[] = [];

  private constructor(readonly options: SandboxOptions) {}

  fabric(): string {
    return `${this.prefix}-fab`;
  }

  node(index: number): string {
    return `${this.prefix}-n${index}`;
  }

  /** The namespace a pod's processes run in (its node's, for hostNetwork pods). */
  podNamespace(pod: ScenarioPod): string {
    return pod.hostNetwork ? this.node(pod.node) : `${this.prefix}-p${this.options.pods.indexOf(pod)}`;
  }

  static async create(options: SandboxOptions): Promise<SandboxCluster> {
    const cluster = new SandboxCluster(options);
    try {
      await cluster.build();
      return cluster;
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  private async addNamespace(name: string): Promise<void> {
    await ip(['netns', 'add', name]);
    this.namespaces.push(name);
    await ipBatch(name, ['link set lo up']);
  }

  private async build(): Promise<void> {
    const { nodes, families, pods } = this.options;
    const v4 = families.includes('IPv4');
    const v6 = families.includes('IPv6');
    await this.addNamespace(this.fabric());
    await ipBatch(this.fabric(), ['link add br0 type bridge', 'link set br0 up']);
    // 172.18.0.1 is the sandbox's control plane: the API double in the fabric itself, or a real control
    // plane's namespace on a veth into the bridge (deleting the fabric deletes the veth and the address).
    if (this.options.controlPlane) await this.attachControlPlane(this.options.controlPlane.namespace);
    else await ipBatch(this.fabric(), [`addr add ${CONTROL_PLANE_IP}/16 dev br0`]);
    for (let i = 0; i < nodes; i++) {
      const node = this.node(i);
      await this.addNamespace(node);
      await sysctl(node, {
        'net.ipv4.ip_forward': '1',
        'net.ipv6.conf.all.forwarding': '1',
        'net.ipv4.conf.all.rp_filter': '0',
        'net.ipv4.conf.default.rp_filter': '0',
        'net.ipv6.conf.default.accept_dad': '0',
      });
      await ipBatch(this.fabric(), [`link add f${i} type veth peer name eth0 netns ${node}`, `link set f${i} master br0`, `link set f${i} up`]);
      // Every node has its IPv4 address, also in IPv6-only clusters: it reaches the control plane with it.
      const commands = ['link set eth0 up', `addr add ${nodeIp(i, 'IPv4')}/16 dev eth0`];
      if (v6) commands.push(`addr add ${nodeIp(i, 'IPv6')}/64 dev eth0 nodad`);
      // A node's own connection to a ClusterIP needs a route before the output hook's DNAT rewrites it
      // (kube-proxy's nodes have a default route). Over eth0 the source is the node IP, as on a real node.
      if (v4) commands.push(`route add ${SERVICE_CIDRS.IPv4} dev eth0`);
      if (v6) commands.push(`route add ${SERVICE_CIDRS.IPv6} dev eth0`);
      for (let k = 0; k < nodes; k++) {
        if (k === i) continue;
        if (v4) commands.push(`route add 10.244.${k}.0/24 via ${nodeIp(k, 'IPv4')}`);
        if (v6) commands.push(`route add fd00:10:244:${k}::/64 via ${nodeIp(k, 'IPv6')}`);
      }
      await ipBatch(node, commands);
    }
    for (const [index, pod] of pods.entries()) {
      if (pod.hostNetwork) continue;
      const ns = this.podNamespace(pod);
      const node = this.node(pod.node);
      const hostSide = `v${index}`;
      await this.addNamespace(ns);
      await sysctl(ns, { 'net.ipv6.conf.all.accept_dad': '0', 'net.ipv6.conf.default.accept_dad': '0' });
      await ipBatch(node, [`link add ${hostSide} type veth peer name eth0 netns ${ns}`, `link set ${hostSide} up`]);
      const nodeCommands: string[] = [];
      const podCommands = ['link set eth0 up'];
      // The node side of every pod veth holds the gateway address, as the ptp CNI plugin sets it up.
      if (v4) nodeCommands.push(`addr add 10.244.${pod.node}.1/32 dev ${hostSide}`);
      if (v6) nodeCommands.push(`addr add fe80::1/64 dev ${hostSide} nodad`);
      for (const address of pod.ips) {
        if (familyOf(address) === 'IPv4') {
          nodeCommands.push(`route add ${address}/32 dev ${hostSide}`);
          podCommands.push(`addr add ${address}/32 dev eth0`, `route add 10.244.${pod.node}.1 dev eth0`, `route add default via 10.244.${pod.node}.1 dev eth0`);
        } else {
          nodeCommands.push(`route add ${address}/128 dev ${hostSide}`);
          podCommands.push(`addr add ${address}/128 dev eth0 nodad`, 'route add default via fe80::1 dev eth0');
        }
      }
      await ipBatch(node, nodeCommands);
      await ipBatch(ns, podCommands);
    }
    await this.installServices();
    if (this.options.controlPlane) await this.installKubernetesService(this.options.controlPlane);
    await Promise.all(pods.map((pod) => this.startPodProcess(pod)));
  }

  /**
   * kube-proxy's part: DNAT from each ClusterIP to its pod, in every node, at priority dstnat, on both
   * hooks kube-proxy uses: prerouting (pods' traffic) and output (the node's own, so hostNetwork pods).
   */
  private async installServices(): Promise<void> {
    const services = this.options.services;
    if (!services || services.size === 0) return;
    const v4: string[] = [];
    const v6: string[] = [];
    for (const [key, clusterIps] of services) {
      const pod = this.options.pods.find((p) => p.key === key);
      if (!pod) continue;
      for (const clusterIp of clusterIps) {
        const family = familyOf(clusterIp);
        const target = pod.ips.find((a) => familyOf(a) === family);
        if (target) (family === 'IPv4' ? v4 : v6).push(`${clusterIp} : ${target}`);
      }
    }
    const chain = (hook: 'prerouting' | 'output') => [
      `  chain ${hook} {`,
      // -100 is dstnat, a keyword nft 1.0.6 accepts only on prerouting.
      `    type nat hook ${hook} priority -100; policy accept;`,
      ...(v4.length ? [`    dnat ip to ip daddr map { ${v4.join(', ')} }`] : []),
      ...(v6.length ? [`    dnat ip6 to ip6 daddr map { ${v6.join(', ')} }`] : []),
      '  }',
    ];
    const script = ['table inet sandbox-kube-proxy {', ...chain('prerouting'), ...chain('output'), '}'].join('\n');
    for (let i = 0; i < this.options.nodes; i++) {
      const result = await execa('ip', ['netns', 'exec', this.node(i), 'nft', '-f', '-'], { input: script, reject: false });
      if (result.exitCode !== 0) throw new Error(`service DNAT in ${this.node(i)}: ${String(result.stderr).trim()}`);
    }
  }

  private async attachControlPlane(namespace: string): Promise<void> {
    const outside = `c${this.prefix.slice(-6)}`;
    await ip(['-n', namespace, 'link', 'add', outside, 'type', 'veth', 'peer', 'name', 'cp', 'netns', this.fabric()]);
    await ipBatch(this.fabric(), ['link set cp master br0', 'link set cp up']);
    await ipBatch(namespace, [`addr add ${CONTROL_PLANE_IP}/16 dev ${outside}`, `link set ${outside} up`]);
  }

  /**
   * kube-proxy's part for the `kubernetes` Service, which in-cluster clients (the agents) dial: its
   * ClusterIP:443 DNATs to the API server on the output hook (the agents are hostNetwork), with a route
   * so that the connect finds one before the DNAT.
   */
  private async installKubernetesService(plane: { port: number; serviceIp: string }): Promise<void> {
    const script = [
      'table ip sandbox-kubernetes-service {',
      '  chain output {',
      '    type nat hook output priority -100; policy accept;',
      `    ip daddr ${plane.serviceIp} tcp dport 443 dnat to ${CONTROL_PLANE_IP}:${plane.port}`,
      '  }',
      '}',
    ].join('\n');
    for (let i = 0; i < this.options.nodes; i++) {
      await ipBatch(this.node(i), [`route add ${plane.serviceIp}/32 dev eth0`]);
      const result = await execa('ip', ['netns', 'exec', this.node(i), 'nft', '-f', '-'], { input: script, reject: false });
      if (result.exitCode !== 0) throw new Error(`kubernetes Service DNAT in ${this.node(i)}: ${String(result.stderr).trim()}`);
    }
  }

  private async startPodProcess(pod: ScenarioPod): Promise<void> {
    const ports = pod.ports.map((p) => `${p.port}/${p.protocol}`);
    const child = execa('ip', ['netns', 'exec', this.podNamespace(pod), process.execPath, PODPROC, pod.name, ...ports], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'inherit',
      reject: false,
      buffer: false,
    });
    const proc: PodProcess = { child, pending: new Map(), nextId: 1 };
    this.processes.set(pod.key, proc);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((ready, failed) => {
      const timer = setTimeout(() => failed(new Error(`pod process for ${pod.key} did not start`)), 10000);
      lines.on('line', (line) => {
        const message = JSON.parse(line) as { ready?: boolean; id?: number; ok?: boolean };
        if (message.ready) {
          clearTimeout(timer);
          ready();
        } else if (message.id !== undefined) {
          proc.pending.get(message.id)?.(message.ok === true);
          proc.pending.delete(message.id);
        }
      });
      void child.then((result) => {
        clearTimeout(timer);
        failed(new Error(`pod process for ${pod.key} exited (${result.exitCode})`));
      });
    });
  }

  /** Starts a process inside one of the cluster's namespaces; it is ended by destroy(). */
  spawn(namespace: string, file: string, args: readonly string[], env: Record<string, string> = {}): ResultPromise {
    const child = execa('ip', ['netns', 'exec', namespace, file, ...args], { env, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: false });
    this.extra.push(child);
    return child;
  }

  /** Does a new connection from `from` reach the target in time? TCP: an HTTP request with curl (or a bare connect); UDP: a reply. */
  async probe(from: ScenarioPod, target: ProbeTarget, timeoutMs = 400, client: 'curl' | 'socket' = 'curl'): Promise<boolean> {
    return (await this.request(from, { ...target, timeoutMs, client })).ok;
  }

  /** Opens a TCP connection from `from` and keeps it; returns its id, or null when it could not connect. */
  async hold(from: ScenarioPod, target: ProbeTarget, timeoutMs = 1000): Promise<number | null> {
    const id = await this.request(from, { ...target, timeoutMs, client: 'hold' });
    return id.ok ? id.id : null;
  }

  /** Does a byte sent over a held connection come back (the server echoes held connections)? */
  async ping(from: ScenarioPod, held: number, timeoutMs = 1000): Promise<boolean> {
    return (await this.request(from, { ping: held, timeoutMs })).ok;
  }

  private request(from: ScenarioPod, body: Record<string, unknown>): Promise<{ id: number; ok: boolean }> {
    const proc = this.processes.get(from.key);
    if (!proc) throw new Error(`no process for ${from.key}`);
    const id = proc.nextId++;
    return new Promise((resolve) => {
      proc.pending.set(id, (ok) => resolve({ id, ok }));
      proc.child.stdin!.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  /**
   * Listens in `to` for SCTP INIT chunks to `port` for `seconds`; resolves `ready` once listening and
   * `arrivals` with the source addresses seen. Raw sockets stand in for SCTP sockets, which this kernel
   * lacks, so the check is one-way: the INIT arrived or it did not.
   */
  sctpReceiver(to: ScenarioPod, port: number, seconds: number): { ready: Promise<void>; arrivals: Promise<Set<string>> } {
    const child = execa('ip', ['netns', 'exec', this.podNamespace(to), 'python3', SCTP_INIT, 'recv', String(port), String(seconds)], { reject: false, buffer: false, stdout: 'pipe' });
    const lines = createInterface({ input: child.stdout! });
    const arrivals = new Set<string>();
    let listening!: () => void;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    const done = new Promise<Set<string>>((resolve) => {
      lines.on('line', (line) => {
        const [word, address] = line.split(' ');
        if (word === 'listening') listening();
        if (word === 'arrived' && address) arrivals.add(address);
      });
      void child.then(() => {
        listening();
        resolve(arrivals);
      });
    });
    return { ready, arrivals: done };
  }

  /** Sends one raw SCTP INIT from `from` to ip:port. */
  async sendSctpInit(from: ScenarioPod, ip: string, port: number): Promise<void> {
    await execa('ip', ['netns', 'exec', this.podNamespace(from), 'python3', SCTP_INIT, 'send', ip, String(port)]);
  }

  /** Removes every process and namespace this cluster created; safe to call more than once. */
  async destroy(): Promise<void> {
    for (const child of this.extra.splice(0)) {
      child.kill('SIGTERM');
      await child.catch(() => undefined);
    }
    for (const proc of this.processes.values()) {
      proc.child.stdin?.end();
      proc.child.kill('SIGKILL');
      await proc.child.catch(() => undefined);
    }
    this.processes.clear();
    for (const name of this.namespaces.splice(0).reverse()) {
      await execa('ip', ['netns', 'del', name], { reject: false });
    }
  }
}
