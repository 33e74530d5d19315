// What a sandbox run talks to: the API server double (a process in the fabric, written over stdin) or a
// real control plane (e2e/k8s/sandbox-api.ts). Both take the same writes and say how an agent on a node
// reaches them; the runner waits for the agents by the resourceVersions the writes return.
import type { ResultPromise } from 'execa';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../../src/scenario/format.js';
import { CONTROL_PLANE_IP, type SandboxCluster, type SandboxOptions } from '../sandbox/cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the build (dist/e2e/runner) or the sources (e2e/runner, in jest). */
const ROOT = here.includes(join('dist', 'e2e')) ? join(here, '..', '..', '..') : join(here, '..', '..');
const API_SERVER = join(ROOT, 'dist', 'e2e', 'apiserver', 'serve.js');

export type WriteKind = 'Namespace' | 'Pod' | 'NetworkPolicy';

export interface WriteCommand {
  readonly op: 'apply' | 'delete';
  readonly kind: WriteKind;
  readonly object?: object;
  readonly namespace?: string;
  readonly name?: string;
}

/** How an agent process starts on a node: the file to run in the node's namespace, its arguments and environment. */
export interface AgentLaunch {
  readonly file: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

/** The API as one run sees it. */
export interface RunApi {
  /** One write; resolves with the resourceVersion an agent has seen once it has seen this write. */
  write(command: WriteCommand): Promise<number>;
  /** The agent of node `node`, given the command line that runs `nftpol agent` with the DaemonSet's arguments. */
  agent(node: number, command: readonly string[]): Promise<AgentLaunch>;
  close(): Promise<void>;
}

export interface ApiBackend {
  readonly name: 'double' | 'real';
  /** What the sandbox cluster needs to reach this API (a real control plane's namespace). */
  readonly clusterOptions: Pick<SandboxOptions, 'controlPlane'>;
  open(cluster: SandboxCluster, scenario: Scenario): Promise<RunApi>;
  /**
   * A kubeconfig file for kube-router on node `node` (its own ServiceAccount, e2e/peers/kube-router/rbac.yaml);
   * only a real control plane has one (api-choice.ts), the double serves too few kinds for kube-router.
   */
  peerKubeconfig?(cluster: SandboxCluster, node: number): Promise<string>;
}

export class CannotRun extends Error {}

/** The API double's process: writes go over its stdin, one JSON command per line. */
class DoubleControl {
  private next = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  readonly ready: Promise<void>;

  constructor(private readonly child: ResultPromise) {
    let started!: () => void;
    this.ready = new Promise((resolve) => (started = resolve));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as Record<string, unknown>;
      if (reply.ready) started();
      else this.waiting.get(reply.id as number)?.(reply);
    });
  }

  async send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.next++;
    const reply = await new Promise<Record<string, unknown>>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ id, ...command })}\n`);
    });
    if (reply.error) throw new CannotRun(`API double: ${String(reply.error)}`);
    return reply;
  }

  /** Ends the double as serve.js expects (stdin closed), so that it removes its temp dir; a SIGTERM would leave it. */
  async close(): Promise<void> {
    this.child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.child.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
  }
}

/** The API server double in the fabric namespace; agents get its kubeconfig (no credentials to test). */
export const doubleBackend: ApiBackend = {
  name: 'double',
  clusterOptions: {},
  async open(cluster) {
    const control = new DoubleControl(cluster.spawn(cluster.fabric(), process.execPath, [API_SERVER, CONTROL_PLANE_IP, '6443']));
    await control.ready;
    let kubeconfig: string | undefined;
    return {
      async write(command) {
        return (await control.send({ ...command })).resourceVersion as number;
      },
      async agent(_node, command) {
        kubeconfig ??= (await control.send({ op: 'kubeconfig' })).kubeconfig as string;
        return { file: command[0]!, args: [...command.slice(1), '--kubeconfig', kubeconfig], env: {} };
      },
      async close() {
        await control.close();
      },
    };
  },
};
