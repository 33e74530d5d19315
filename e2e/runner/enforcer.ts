// ENFORCER=nftpol|kube-router|kube-network-policies|off: what a sandbox run starts in every node's network
// namespace. nftpol is the DaemonSet's agent; kube-router (v2.1.0, firewall only: iptables and ipset inside
// the node's namespace) and kube-network-policies (v0.8.0) are peers built by `make peers-bin`
// (e2e/peers/build.sh), run against the real control plane with identities of their own; off starts none
// (a control run; AGENT=off is the older spelling). The peers are measured, never shipped.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CannotRun } from './backend.js';

export const ENFORCERS = ['nftpol', 'kube-router', 'kube-network-policies', 'off'] as const;
export type Enforcer = (typeof ENFORCERS)[number];
export type PeerName = 'kube-router' | 'kube-network-policies';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the build (dist/e2e/runner) or the sources (e2e/runner, in jest). */
const ROOT = here.includes(join('dist', 'e2e')) ? join(here, '..', '..', '..') : join(here, '..', '..');

/** The module each peer is built from and the module path its go.mod requires (e2e/peers/<name>/go.mod). */
const PEER_MODULES: Record<PeerName, string> = {
  'kube-router': 'github.com/cloudnativelabs/kube-router/v2',
  'kube-network-policies': 'sigs.k8s.io/kube-network-policies',
};

export function isEnforcer(value: string): value is Enforcer {
  return (ENFORCERS as readonly string[]).includes(value);
}

/** ENFORCER, else AGENT=off (the older switch), else nftpol. */
export function enforcerFromEnv(env: NodeJS.ProcessEnv = process.env): Enforcer {
  const wanted = env.ENFORCER || (env.AGENT === 'off' ? 'off' : 'nftpol');
  if (!isEnforcer(wanted)) throw new CannotRun(`ENFORCER=${wanted}: want one of ${ENFORCERS.join(', ')}`);
  return wanted;
}

export function isPeer(enforcer: Enforcer): enforcer is PeerName {
  return enforcer === 'kube-router' || enforcer === 'kube-network-policies';
}

/** The version e2e/peers/<name>/go.mod pins. */
export function peerVersion(name: PeerName): string {
  const gomod = readFileSync(join(ROOT, 'e2e', 'peers', name, 'go.mod'), 'utf8');
  const module = PEER_MODULES[name].replaceAll('.', '\\.');
  const match = new RegExp(`^require ${module} (v\\S+)`, 'm').exec(gomod);
  if (!match) throw new Error(`e2e/peers/${name}/go.mod does not require ${PEER_MODULES[name]}`);
  return match[1]!;
}

/** Where e2e/peers/build.sh puts the peers (NFTPOL_PEERS_BIN overrides it, as there). */
export function peersBinDir(): string {
  return process.env.NFTPOL_PEERS_BIN ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'nftpol-k8s', 'peers');
}

/** The built peer's path; CannotRun when `make peers-bin` has not built it. */
export function peerBinary(name: PeerName): string {
  const file = join(peersBinDir(), `${name}-${peerVersion(name)}`);
  if (!existsSync(file)) throw new CannotRun(`${file} is not built: run make peers-bin (needs Go and the Go module proxy)`);
  return file;
}

/** kube-router's identity in the control plane (its ServiceAccount, ClusterRole and binding). */
export const KUBE_ROUTER_RBAC = join(ROOT, 'e2e', 'peers', 'kube-router', 'rbac.yaml');
