// kube-router's identity in a real control plane: its ServiceAccount and rights (e2e/peers/kube-router/rbac.yaml,
// installed once), a token from the TokenRequest API per node, and a kubeconfig for --kubeconfig that reaches
// kube-apiserver where the nodes reach it (172.18.0.1:6443 on the fabric bridge). The agent's own identity
// (daemonset/) is not widened for a peer.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_ADDRESS, API_PORT, type ControlPlane } from '../k8s/controlplane.js';
import type { SandboxCluster } from '../sandbox/cluster.js';
import { CannotRun } from './backend.js';
import { KUBE_ROUTER_RBAC } from './enforcer.js';

const SERVICE_ACCOUNT = { namespace: 'kube-system', name: 'kube-router-peer' };

export class PeerIdentity {
  private installed: Promise<void> | undefined;

  constructor(private readonly plane: ControlPlane) {}

  async kubeconfig(cluster: SandboxCluster, node: number): Promise<string> {
    await (this.installed ??= this.plane.kubectl(['apply', '-f', KUBE_ROUTER_RBAC]).then(() => undefined));
    const request = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } };
    const answer = await this.plane.api.request('POST', `/api/v1/namespaces/${SERVICE_ACCOUNT.namespace}/serviceaccounts/${SERVICE_ACCOUNT.name}/token`, request);
    const token = (answer.status as { token?: string } | undefined)?.token;
    if (!token) throw new CannotRun(`TokenRequest for ${SERVICE_ACCOUNT.namespace}/${SERVICE_ACCOUNT.name} returned no token`);
    const dir = join(this.plane.dir, 'peers');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${cluster.prefix}-${node}.kubeconfig`);
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'sandbox', cluster: { server: `https://${API_ADDRESS}:${API_PORT}`, 'certificate-authority-data': readFileSync(this.plane.caCert).toString('base64') } }],
      users: [{ name: SERVICE_ACCOUNT.name, user: { token } }],
      contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: SERVICE_ACCOUNT.name } }],
      'current-context': 'sandbox',
    };
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }
}
