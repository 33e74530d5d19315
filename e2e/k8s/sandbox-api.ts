// A sandbox run against the real control plane (controlplane.ts), as users and kubelets meet it:
// - objects are written with server-side apply, as `kubectl apply --server-side` writes them; a Pod's
//   status (phase, podIP, podIPs) through the status subresource under a field manager of its own, as a
//   kubelet writes it; a Pod deleted gracefully (the user), then with grace period 0 (the kubelet
//   confirming), since no kubelet finishes the deletion here;
// - each node is registered as a Node object (addresses, Ready), as its kubelet would;
// - each agent runs as the DaemonSet's pod would: KUBERNETES_SERVICE_HOST/PORT (the `kubernetes`
//   Service's ClusterIP) and a token from the TokenRequest API for daemonset/'s ServiceAccount, with the
//   CA and namespace, under /var/run/secrets/kubernetes.io/serviceaccount/ in a mount namespace of its
//   own. No admin credentials.
// One control plane serves a whole suite: each run first removes what earlier runs left (NetworkPolicies
// and Pods in every namespace, namespaces the scenario does not use), which takes milliseconds where a
// namespace's deletion and finalization takes about 4.5 s.
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../../src/scenario/format.js';
import { nodeIp } from '../../src/scenario/format.js';
import { nodeName } from '../../src/scenario/objects.js';
import type { ApiBackend, AgentLaunch, RunApi, WriteCommand } from '../runner/backend.js';
import { CannotRun } from '../runner/backend.js';
import type { SandboxCluster } from '../sandbox/cluster.js';
import { KubeApiError, type ApiObject, type KubeApi } from './api.js';
import { API_PORT, KUBERNETES_SERVICE_IP, type ControlPlane } from './controlplane.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = here.includes(join('dist', 'e2e')) ? join(here, '..', '..', '..') : join(here, '..', '..');
/** What the agent needs from daemonset/: its identity and rights, exactly as shipped. */
export const AGENT_IDENTITY = ['serviceaccount.yaml', 'clusterrole.yaml', 'clusterrolebinding.yaml'].map((f) => join(ROOT, 'daemonset', f));
const SERVICE_ACCOUNT = { namespace: 'kube-system', name: 'nftpol' };
const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const WAIT_MS = 20_000;
/** The kubelet's field manager: it owns Pod and Node status. */
const KUBELET = 'nftpol-e2e-kubelet';

/** Runs in the agent's own mount namespace: a tmpfs /run (a container's own) holding the service account's files. */
const MOUNT_SECRETS = [
  'set -e',
  'mount -t tmpfs -o mode=0755,size=1m tmpfs /run',
  'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
  'cp "$1/token" "$1/ca.crt" "$1/namespace" /run/secrets/kubernetes.io/serviceaccount/',
  'shift',
  'exec "$@"',
].join('\n');

/** Installs daemonset/'s ServiceAccount, ClusterRole and ClusterRoleBinding with kubectl, as shipped. */
export async function installAgentIdentity(plane: ControlPlane): Promise<void> {
  await plane.kubectl(['apply', ...AGENT_IDENTITY.flatMap((f) => ['-f', f])]);
}

function objectPath(kind: WriteCommand['kind'], namespace: string | undefined, name: string): string {
  if (kind === 'Namespace') return `/api/v1/namespaces/${name}`;
  if (kind === 'Pod') return `/api/v1/namespaces/${namespace ?? 'default'}/pods/${name}`;
  return `/apis/networking.k8s.io/v1/namespaces/${namespace ?? 'default'}/networkpolicies/${name}`;
}

const rv = (object: ApiObject | null): number => Number(object?.metadata?.resourceVersion ?? 0);

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new CannotRun(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A run's API: the control plane's, with the harness's admin token. */
class RealRunApi implements RunApi {
  /** NetworkPolicy deletions seen by the harness's own watch, by namespace/name: a DELETE's Status carries no resourceVersion. */
  private readonly deletions = new Map<string, (resourceVersion: number) => void>();
  private readonly secretDirs: string[] = [];
  private watch: { stop: () => void } | undefined;
  private closed = false;

  constructor(
    private readonly plane: ControlPlane,
    private readonly cluster: SandboxCluster,
  ) {}

  private get api(): KubeApi {
    return this.plane.api;
  }

  async start(): Promise<void> {
    const list = await this.api.request('GET', '/apis/networking.k8s.io/v1/networkpolicies?limit=1');
    this.watchDeletions(String((list.metadata as { resourceVersion?: string } | undefined)?.resourceVersion ?? '0'));
  }

  /** Watches from `from`, and again from the last event or bookmark whenever the server ends the watch. */
  private watchDeletions(from: string): void {
    let last = from;
    const watch = this.api.watch('/apis/networking.k8s.io/v1/networkpolicies', from, (type, object) => {
      // 410 (history compacted): go on from now; a deletion in the gap would time out its write.
      if (type === 'ERROR') last = '';
      else if (object.metadata?.resourceVersion) last = object.metadata.resourceVersion;
      if (type !== 'DELETED') return;
      const key = `${object.metadata?.namespace}/${object.metadata?.name}`;
      this.deletions.get(key)?.(rv(object));
      this.deletions.delete(key);
    });
    this.watch = watch;
    void watch.ended
      .catch(() => new Promise((resolve) => setTimeout(resolve, 200)))
      .then(() => {
        if (!this.closed) this.watchDeletions(last);
      });
  }

  async write(command: WriteCommand): Promise<number> {
    const object = (command.object ?? {}) as Record<string, unknown> & ApiObject;
    const name = command.op === 'apply' ? String(object.metadata?.name) : command.name!;
    const namespace = command.op === 'apply' ? object.metadata?.namespace : command.namespace;
    const path = objectPath(command.kind, namespace, name);
    if (command.op === 'delete') return this.remove(command.kind, path, `${namespace ?? 'default'}/${name}`);
    if (command.kind === 'Namespace') return this.applyNamespace(path, name, object);
    if (command.kind === 'Pod') return this.applyPod(path, object);
    return rv(await this.api.apply(path, object));
  }

  private async applyNamespace(path: string, name: string, object: Record<string, unknown>): Promise<number> {
    const existing = await this.api.get(path);
    // A namespace still finalizing from an earlier run cannot be written until it is gone.
    if (existing?.metadata && 'deletionTimestamp' in existing.metadata) await until(`namespace ${name} to finish terminating`, async () => (await this.api.get(path)) === null);
    const written = await this.api.apply(path, object);
    // Pods are admitted only once the namespace's default ServiceAccount exists (the controller makes it).
    if (!existing) await until(`the default ServiceAccount of namespace ${name}`, async () => (await this.api.get(`${path}/serviceaccounts/default`)) !== null);
    return rv(written);
  }

  private async applyPod(path: string, pod: Record<string, unknown>): Promise<number> {
    const { status, ...rest } = pod as { status?: Record<string, unknown> } & Record<string, unknown>;
    const meta = rest.metadata as { name: string; namespace?: string };
    const created = await this.api.apply(path, rest);
    if (!status) return rv(created);
    const kubelet = { apiVersion: 'v1', kind: 'Pod', metadata: { name: meta.name, namespace: meta.namespace }, status };
    return rv(await this.api.apply(`${path}/status`, kubelet, KUBELET));
  }

  private async remove(kind: WriteCommand['kind'], path: string, key: string): Promise<number> {
    if (kind === 'NetworkPolicy') {
      let timer: NodeJS.Timeout | undefined;
      const seen = new Promise<number>((resolve, failed) => {
        timer = setTimeout(() => failed(new CannotRun(`the watch did not report NetworkPolicy ${key} deleted`)), WAIT_MS);
        this.deletions.set(key, (version) => {
          clearTimeout(timer);
          resolve(version);
        });
      });
      if ((await this.api.delete(path)) === null) {
        // Nothing was deleted, so no watch event comes: without this, the timer rejects `seen` 20 s later
        // with nobody waiting, and the unhandled rejection ends a process that runs on (a multi-enforcer suite).
        clearTimeout(timer);
        this.deletions.delete(key);
        return 0;
      }
      return seen;
    }
    const first = await this.api.delete(path);
    if (kind !== 'Pod' || first === null) return rv(first);
    // A running pod on a node only gets its deletionTimestamp; its kubelet finishes the deletion.
    if (!first.metadata || !('deletionTimestamp' in first.metadata) || (await this.api.get(path)) === null) return rv(first);
    return rv((await this.api.delete(path, { gracePeriodSeconds: 0 })) ?? first);
  }

  async agent(node: number, command: readonly string[]): Promise<AgentLaunch> {
    const request = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } };
    const answer = await this.api.request('POST', `/api/v1/namespaces/${SERVICE_ACCOUNT.namespace}/serviceaccounts/${SERVICE_ACCOUNT.name}/token`, request);
    const token = (answer.status as { token?: string } | undefined)?.token;
    if (!token) throw new CannotRun(`TokenRequest for ${SERVICE_ACCOUNT.namespace}/${SERVICE_ACCOUNT.name} returned no token`);
    const dir = join(this.plane.dir, 'agents', `${this.cluster.prefix}-${node}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.secretDirs.push(dir);
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), readFileSync(this.plane.caCert));
    writeFileSync(join(dir, 'namespace'), SERVICE_ACCOUNT.namespace);
    return {
      file: 'unshare',
      args: ['--mount', '--propagation', 'private', 'sh', '-c', MOUNT_SECRETS, 'mount-secrets', dir, ...command],
      env: { KUBERNETES_SERVICE_HOST: KUBERNETES_SERVICE_IP, KUBERNETES_SERVICE_PORT: '443' },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch?.stop();
    for (const dir of this.secretDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes what earlier runs left, so that the API holds only this scenario's objects. */
async function reset(api: KubeApi, scenario: Scenario): Promise<void> {
  const wanted = new Set(scenario.namespaces.map((n) => n.name));
  const list = await api.request('GET', '/api/v1/namespaces');
  for (const ns of (list.items as ApiObject[] | undefined) ?? []) {
    const name = ns.metadata!.name!;
    await api.request('DELETE', `/apis/networking.k8s.io/v1/namespaces/${name}/networkpolicies`);
    await api.request('DELETE', `/api/v1/namespaces/${name}/pods?gracePeriodSeconds=0`);
    // Not waited for: a later run that needs the name waits (applyNamespace).
    if (!wanted.has(name) && !SYSTEM_NAMESPACES.has(name)) await api.delete(`/api/v1/namespaces/${name}`);
  }
}

/** Each node as its kubelet registers it: the Node, then its status (addresses, Ready). */
async function registerNodes(api: KubeApi, scenario: Scenario): Promise<void> {
  for (let i = 0; i < scenario.nodes; i++) {
    const name = nodeName(i);
    const path = `/api/v1/nodes/${name}`;
    await api.apply(path, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } } }, KUBELET);
    const addresses = [{ type: 'InternalIP', address: nodeIp(i, 'IPv4') }, ...(scenario.ipFamilies.includes('IPv6') ? [{ type: 'InternalIP', address: nodeIp(i, 'IPv6') }] : []), { type: 'Hostname', address: name }];
    const ready = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'sandbox node', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() };
    // A merge patch, as the kubelet writes it: server-side apply rejects two InternalIP addresses (a
    // dual-stack node's), because the list is keyed by type alone.
    await api.request('PATCH', `${path}/status`, { status: { addresses, conditions: [ready] } }, 'application/merge-patch+json');
  }
}

/** Runs against `plane`, which must have the agent's identity installed (installAgentIdentity). */
export function realBackend(plane: ControlPlane): ApiBackend {
  return {
    name: 'real',
    clusterOptions: { controlPlane: { namespace: plane.namespace, port: API_PORT, serviceIp: KUBERNETES_SERVICE_IP } },
    async open(cluster, scenario) {
      try {
        await reset(plane.api, scenario);
        await registerNodes(plane.api, scenario);
        const run = new RealRunApi(plane, cluster);
        await run.start();
        return run;
      } catch (error) {
        if (error instanceof KubeApiError) throw new CannotRun(`kube-apiserver: ${error.message}`);
        throw error;
      }
    },
  };
}
