// API=real|double: which API a sandbox run talks to. A real control plane (make k8s-bin) is started
// once for the whole process and shared by its runs; stop() ends it.
import { ControlPlane } from '../k8s/controlplane.js';
import { installAgentIdentity, realBackend } from '../k8s/sandbox-api.js';
import { CannotRun, doubleBackend, type ApiBackend } from './backend.js';
import { PeerIdentity } from './peer-identity.js';

export interface ApiChoice {
  readonly backend: ApiBackend;
  /** How long the control plane took to be ready (0 for the double). */
  readonly startSeconds: number;
  stop(): Promise<void>;
}

export async function apiBackendFromEnv(fallback: 'real' | 'double'): Promise<ApiChoice> {
  const wanted = process.env.API || fallback;
  if (wanted === 'double') return { backend: doubleBackend, startSeconds: 0, stop: async () => undefined };
  if (wanted !== 'real') throw new CannotRun(`API=${wanted}: want real or double`);
  const started = Date.now();
  const plane = await ControlPlane.start();
  try {
    await installAgentIdentity(plane);
  } catch (error) {
    await plane.stop();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  const peers = new PeerIdentity(plane);
  const backend: ApiBackend = { ...realBackend(plane), peerKubeconfig: (cluster, node) => peers.kubeconfig(cluster, node) };
  return { backend, startSeconds: (Date.now() - started) / 1000, stop: () => (stopped ??= plane.stop()) };
}
