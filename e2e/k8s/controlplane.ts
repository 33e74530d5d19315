// A real Kubernetes control plane for the sandbox cluster: etcd, kube-apiserver and kube-controller-manager
// (built by `make k8s-bin`) in a network namespace of their own, which each sandbox cluster joins to its
// fabric bridge as 172.18.0.1 (SandboxCluster's `controlPlane` option). It lives for a whole suite: one
// start costs about 15 s on a busy 2-core machine, a scenario about 5.
//
// - kube-apiserver: secure port 6443 only, its own CA and serving certificate (SANs: 172.18.0.1, the
//   `kubernetes` Service's ClusterIP 10.96.0.1, loopback, the in-cluster names), service-account signing
//   keys, Node,RBAC authorization, a static admin token for the harness (--token-auth-file) and one for
//   kube-controller-manager (the bootstrap RBAC user system:kube-controller-manager).
// - kube-controller-manager runs only the controllers a cluster without kubelets wants: namespaces
//   finalize, service accounts and their tokens, kube-root-ca.crt, EndpointSlices, ServiceCIDRs, role
//   aggregation. node-lifecycle, taint-eviction and pod-garbage-collector stay off: with no kubelet
//   heartbeating, they would taint the Node objects the harness registers and evict or delete its pods.
// Every process is started and ended by its PID; every file lives in one temp dir removed by stop(), also
// when start() fails. Test tool.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeApi } from './api.js';
import { makeCerts, type ControlPlaneCerts } from './certs.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the sources (e2e/k8s) or the build (dist/e2e/k8s). */
const ROOT = here.includes(join('dist', 'e2e')) ? join(here, '..', '..', '..') : join(here, '..', '..');
/** The relay always runs built: jest runs TypeScript, the relay plain Node. */
const RELAY = join(ROOT, 'dist', 'e2e', 'k8s', 'relay.js');

/** Where the sandbox's control plane is reached from the nodes (on each fabric bridge). */
export const API_ADDRESS = '172.18.0.1';
export const API_PORT = 6443;
/** The `kubernetes` Service's ClusterIP: the first address of the service range. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
const SERVICE_CIDRS = '10.96.0.0/16,fd00:10:96::/112';
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
const CONTROLLERS = [
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
  'service-cidr-controller',
  'clusterrole-aggregation-controller',
];
const START_TIMEOUT_MS = 120_000;

/** The Kubernetes version the binaries are built at (e2e/k8s/kubernetes/go.mod). */
export function kubernetesVersion(): string {
  const gomod = readFileSync(join(ROOT, 'e2e', 'k8s', 'kubernetes', 'go.mod'), 'utf8');
  const match = /^require k8s\.io\/kubernetes (v\S+)/m.exec(gomod);
  if (!match) throw new Error('e2e/k8s/kubernetes/go.mod does not require k8s.io/kubernetes');
  return match[1]!;
}

/** The directory `make k8s-bin` builds into (NFTPOL_K8S_BIN overrides it, as in build.sh). */
export function binDir(): string {
  return process.env.NFTPOL_K8S_BIN ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'nftpol-k8s', kubernetesVersion());
}

/** Null when every binary is built, else why not (for tests that skip). */
export function missingBinaries(): string | null {
  const missing = BINARIES.filter((b) => !existsSync(join(binDir(), b)));
  return missing.length === 0 ? null : `${missing.join(', ')} not built in ${binDir()}: run make k8s-bin (needs Go and the Go module proxy)`;
}

export interface ControlPlaneOptions {
  /** kube-apiserver's --min-request-timeout in seconds (watches end after 1-2x this); default 1800. */
  readonly minRequestTimeoutSeconds?: number;
  /**
   * Controllers beyond the default set, for a cluster with real kubelets (e2e/node), e.g. the DaemonSet,
   * garbage-collector and node-lifecycle controllers.
   */
  readonly extraControllers?: readonly string[];
  /** kube-apiserver flags beyond the default set (e2e/node: --kubelet-preferred-address-types). */
  readonly extraApiServerArgs?: readonly string[];
}

interface Started {
  readonly name: string;
  readonly child: ResultPromise;
  readonly log: string;
  readonly file: string;
  readonly args: readonly string[];
}

export class ControlPlane {
  readonly namespace = `nftpolk${randomBytes(3).toString('hex')}-cp`;
  readonly dir = mkdtempSync(join(tmpdir(), 'nftpol-k8s-'));
  readonly adminToken = randomBytes(24).toString('hex');
  private readonly controllerToken = randomBytes(24).toString('hex');
  private readonly processes: Started[] = [];
  private namespaceCreated = false;
  private certs!: ControlPlaneCerts;
  api!: KubeApi;

  private constructor(private readonly options: ControlPlaneOptions) {}

  get caCert(): string {
    return this.certs.caCert;
  }

  /** The CA's certificate and key (for client certificates: certs.ts makeClientCert). */
  get ca(): { readonly caCert: string; readonly caKey: string } {
    return { caCert: this.certs.caCert, caKey: this.certs.caKey };
  }

  /** The Unix socket that reaches kube-apiserver from the root namespace (relay.ts), bytes only. */
  get apiSocket(): string {
    return join(this.dir, 'api.sock');
  }

  /** A kubeconfig with the admin token, for kubectl inside the control plane's namespace. */
  get adminKubeconfig(): string {
    return join(this.dir, 'admin.kubeconfig');
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const missing = missingBinaries();
    if (missing) throw new Error(missing);
    const plane = new ControlPlane(options);
    try {
      await plane.boot();
      return plane;
    } catch (error) {
      const logs = plane.processes.map((p) => `--- ${p.name}\n${tail(p.log)}`).join('\n');
      await plane.stop();
      throw new Error(`the control plane did not start: ${(error as Error).message}\n${logs}`);
    }
  }

  private async boot(): Promise<void> {
    await run('ip', ['netns', 'add', this.namespace]);
    this.namespaceCreated = true;
    await run('ip', ['-n', this.namespace, 'link', 'set', 'lo', 'up']);
    this.certs = await makeCerts(this.dir, [API_ADDRESS, KUBERNETES_SERVICE_IP, '127.0.0.1'], ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost']);
    const tokens = join(this.dir, 'tokens.csv');
    writeFileSync(tokens, `${this.adminToken},nftpol-e2e-admin,nftpol-e2e-admin,"system:masters"\n${this.controllerToken},system:kube-controller-manager,system:kube-controller-manager\n`, { mode: 0o600 });
    writeFileSync(this.adminKubeconfig, kubeconfig(this.certs.caCert, this.adminToken), { mode: 0o600 });
    const controllerKubeconfig = join(this.dir, 'controller-manager.kubeconfig');
    writeFileSync(controllerKubeconfig, kubeconfig(this.certs.caCert, this.controllerToken), { mode: 0o600 });

    this.spawn('etcd', [
      `--data-dir=${join(this.dir, 'etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379',
      '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380',
      '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=default=http://127.0.0.1:2380',
      // Test data only, thrown away at the end: no fsync per write on a disk other tests share.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    this.spawn('kube-apiserver', [
      '--etcd-servers=http://127.0.0.1:2379',
      '--bind-address=0.0.0.0',
      `--secure-port=${API_PORT}`,
      // The namespace has no default route to pick an address from.
      `--advertise-address=${API_ADDRESS}`,
      `--tls-cert-file=${this.certs.serverCert}`,
      `--tls-private-key-file=${this.certs.serverKey}`,
      `--client-ca-file=${this.certs.caCert}`,
      `--token-auth-file=${tokens}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${this.certs.saPub}`,
      `--service-account-signing-key-file=${this.certs.saKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDRS}`,
      `--cert-dir=${join(this.dir, 'apiserver-certs')}`,
      `--min-request-timeout=${this.options.minRequestTimeoutSeconds ?? 1800}`,
      '--profiling=false',
      ...(this.options.extraApiServerArgs ?? []),
    ]);
    const socket = this.apiSocket;
    const relay = this.spawn('relay', [RELAY, socket, String(API_PORT)], process.execPath, 'pipe');
    await new Promise<void>((ready, failed) => {
      relay.child.stdout!.once('data', () => ready());
      void relay.child.then(() => failed(new Error('the API relay exited')));
    });
    this.api = new KubeApi(socket, readFileSync(this.certs.caCert, 'utf8'), this.adminToken);
    await this.until('kube-apiserver /readyz', () => this.api.healthy('/readyz'));
    this.spawn('kube-controller-manager', [
      `--kubeconfig=${controllerKubeconfig}`,
      `--controllers=${[...CONTROLLERS, ...(this.options.extraControllers ?? [])].join(',')}`,
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${this.certs.saKey}`,
      `--root-ca-file=${this.certs.caCert}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--cert-dir=${join(this.dir, 'controller-manager-certs')}`,
      '--profiling=false',
    ]);
    // The controllers work once the service-account controller has made kube-system's default account.
    await this.until('kube-controller-manager (kube-system/default ServiceAccount)', async () => (await this.api.get('/api/v1/namespaces/kube-system/serviceaccounts/default')) !== null);
  }

  /** Starts a process inside the control plane's namespace, its output in a log file of the temp dir. */
  private spawn(name: string, args: string[], file = join(binDir(), name), stdout: 'pipe' | 'log' = 'log'): Started {
    const log = join(this.dir, `${name}.log`);
    const child = execa('ip', ['netns', 'exec', this.namespace, file, ...args], {
      stdin: 'ignore',
      stdout: stdout === 'pipe' ? 'pipe' : { file: log, append: true },
      stderr: { file: log, append: true },
      reject: false,
      buffer: false,
    });
    const started = { name, child, log, file, args };
    this.processes.push(started);
    return started;
  }

  private async until(what: string, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await ready())) {
      const exited = this.processes.find((p) => p.child.exitCode !== null);
      if (exited) throw new Error(`${exited.name} exited (${exited.child.exitCode}) while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * Kills kube-apiserver (SIGKILL, as a crash or an OOM kill would) and, after `downMs`, starts it again
   * with the same flags; resolves once /readyz answers. Watches break, resourceVersions survive (etcd).
   */
  async restartApiServer(downMs = 0, whileDown: () => Promise<void> = async () => undefined): Promise<void> {
    const index = this.processes.findIndex((p) => p.name === 'kube-apiserver');
    const old = this.processes[index]!;
    old.child.kill('SIGKILL');
    await old.child.catch(() => undefined);
    this.processes.splice(index, 1);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await whileDown();
    this.spawn('kube-apiserver', [...old.args], old.file);
    await this.until('kube-apiserver /readyz after its restart', () => this.api.healthy('/readyz'));
  }

  /**
   * Advances etcd's revision by `writes` keys of its own (outside the API's prefix) and compacts its
   * history up to there, as the API server's periodic compaction does: a watch from an older
   * resourceVersion then gets 410 Gone. Through etcd's JSON gateway, with curl in the namespace.
   * Resolves with the compacted revision.
   */
  async compactEtcd(writes = 5): Promise<number> {
    const call = async (path: string, body: unknown): Promise<{ header?: { revision?: string } }> => {
      const result = await execa('ip', ['netns', 'exec', this.namespace, 'curl', '-sf', '-X', 'POST', `http://127.0.0.1:2379${path}`, '-d', JSON.stringify(body)], { reject: false });
      if (result.exitCode !== 0) throw new Error(`etcd ${path}: curl exit ${result.exitCode} ${String(result.stderr)}`);
      return JSON.parse(String(result.stdout)) as { header?: { revision?: string } };
    };
    const base64 = (text: string) => Buffer.from(text).toString('base64');
    let revision = 0;
    for (let i = 0; i < writes; i++) revision = Number((await call('/v3/kv/put', { key: base64(`/nftpol-e2e/filler-${i}`), value: base64(String(Date.now())) })).header?.revision);
    await call('/v3/kv/compaction', { revision: String(revision), physical: true });
    return revision;
  }

  /** kubectl with the admin token, run inside the control plane's namespace. */
  async kubectl(args: readonly string[], input?: string): Promise<string> {
    const result = await execa('ip', ['netns', 'exec', this.namespace, join(binDir(), 'kubectl'), `--kubeconfig=${this.adminKubeconfig}`, ...args], {
      reject: false,
      ...(input !== undefined ? { input } : {}),
    });
    if (result.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${String(result.stderr).trim()}`);
    return String(result.stdout);
  }

  /** The log of one component so far (for tests and failures). */
  log(name: 'etcd' | 'kube-apiserver' | 'kube-controller-manager'): string {
    const found = this.processes.find((p) => p.name === name);
    return found && existsSync(found.log) ? readFileSync(found.log, 'utf8') : '';
  }

  /** Ends every process (SIGTERM, then SIGKILL after 10 s), removes the namespace and the temp dir. */
  async stop(): Promise<void> {
    await this.api?.close().catch(() => undefined);
    for (const p of this.processes.splice(0).reverse()) {
      if (p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        const killer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
        await p.child.catch(() => undefined);
        clearTimeout(killer);
      }
    }
    if (this.namespaceCreated) await execa('ip', ['netns', 'del', this.namespace], { reject: false });
    this.namespaceCreated = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function kubeconfig(ca: string, token: string): string {
  const data = Buffer.from(readFileSync(ca)).toString('base64');
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'sandbox', cluster: { server: `https://127.0.0.1:${API_PORT}`, 'certificate-authority-data': data } }],
    users: [{ name: 'user', user: { token } }],
    contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'user' } }],
    'current-context': 'sandbox',
  });
}

async function run(file: string, args: string[]): Promise<void> {
  const result = await execa(file, args, { reject: false });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${String(result.stderr).trim()}`);
}

function tail(file: string, lines = 15): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
}
