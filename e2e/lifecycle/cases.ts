// Lifecycles that scenario files cannot express (../shared/scenarios/FORMAT.md creates every pod before
// the first step and never changes who owns an address): a pod's IP reused by a new pod, a pod that gets
// its IP after its policies exist, policies that change while traffic flows, and connections established
// before a policy denies them. Each case runs in the
// sandbox cluster with the real agents. A scenario pod here is a slot: a network namespace with a fixed
// address, which the case fills in the API with whatever Pod it needs (or none), as a CNI plugin hands
// one address to pod after pod.
//
// Run by `make e2e` (after the scenario files); alone: `make e2e-lifecycle`.
import type { V1Pod } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import type { Labels } from '../../src/model/types.js';
import { parseScenario, type Scenario, type ScenarioPod } from '../../src/scenario/format.js';
import { podObject } from '../../src/scenario/objects.js';
import { doubleBackend, type ApiBackend } from '../runner/backend.js';
import { apiBackendFromEnv } from '../runner/api-choice.js';
import { SandboxRun, type EnforcerChoice } from '../runner/run.js';
import type { SandboxCluster } from '../sandbox/cluster.js';

type PodState = 'Pending' | 'Running' | 'Succeeded';

/** The Pod object a slot holds: its own name and labels, and an address only once it is running or done. */
function podInSlot(slot: ScenarioPod, name: string, labels: Labels, state: PodState): V1Pod {
  const base = podObject(slot, labels);
  return {
    ...base,
    metadata: { ...base.metadata, name },
    // Scheduled (spec.nodeName is set) but without an address yet, as the API shows a pod before its sandbox is up.
    status: state === 'Pending' ? { phase: 'Pending' } : { ...base.status, phase: state },
  };
}

function policy(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name }, spec };
}

const role = (value: string) => ({ matchLabels: { role: value } });
const SERVER_FROM_CLIENTS = policy('server-from-clients', { podSelector: role('server'), ingress: [{ from: [{ podSelector: role('client') }], ports: [{ port: 80 }] }] });
const DB_DENY_ALL = policy('db-deny-all', { podSelector: role('db'), policyTypes: ['Ingress'] });

/** What a case can do to its cluster, and the checks it records. */
export class LifecycleContext {
  readonly failures: string[] = [];
  constructor(readonly run: SandboxRun) {}

  pod(key: string): ScenarioPod {
    const pod = this.run.scenario.pods.find((p) => p.key === key);
    if (!pod) throw new Error(`no pod ${key} in the case's cluster`);
    return pod;
  }

  async putPod(slot: string, name: string, labels: Labels, state: PodState): Promise<void> {
    await this.run.write({ op: 'apply', kind: 'Pod', object: podInSlot(this.pod(slot), name, labels, state) });
  }

  async deletePod(name: string): Promise<void> {
    await this.run.write({ op: 'delete', kind: 'Pod', namespace: 'x', name });
  }

  async apply(kind: 'NetworkPolicy' | 'Namespace', object: Record<string, unknown>): Promise<void> {
    await this.run.write({ op: 'apply', kind, object });
  }

  async deletePolicy(name: string): Promise<void> {
    await this.run.write({ op: 'delete', kind: 'NetworkPolicy', namespace: 'x', name });
  }

  /** Waits until every agent has applied every write so far. */
  async settle(what: string): Promise<void> {
    await this.run.settled(what);
  }

  /**
   * Checks one connection (TCP, an HTTP request with curl). As the scenario runner does, a result that
   * disagrees is probed again (up to three times, with a longer timeout) before it counts as a failure.
   */
  async expect(what: string, from: string, to: string, connects: boolean, port = 80): Promise<void> {
    const target = { ip: this.pod(to).ips[0]!, port, protocol: 'TCP' as const };
    let observed = await this.run.cluster.probe(this.pod(from), target);
    for (let attempt = 0; attempt < 3 && observed !== connects; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      observed = await this.run.cluster.probe(this.pod(from), target, 1000);
    }
    if (observed !== connects) this.failures.push(`${what}: ${from} -> ${to}:${port} expected ${connects ? 'to connect' : 'to be blocked'}, ${observed ? 'connected' : 'was blocked'}`);
  }
}

export interface LifecycleCase {
  readonly name: string;
  readonly scenario: Scenario;
  /** Pods whose slot starts empty in the API. */
  readonly emptySlots: readonly string[];
  readonly body: (ctx: LifecycleContext) => Promise<void>;
  /** Flags added to the agents' DaemonSet arguments. */
  readonly agentArgs?: readonly string[];
}

function cluster(name: string, pods: readonly Record<string, unknown>[]): Scenario {
  return parseScenario(JSON.stringify({ name, cluster: { nodes: 2 }, namespaces: [{ name: 'x' }], pods, steps: [{ probes: [{ port: 80, protocol: 'TCP' }] }] }));
}

const ipReuse: LifecycleCase = {
  name: 'lifecycle-pod-ip-reuse',
  // slot-a is a peer (does its address count as a client?), slot-b a local pod (is its address isolated?).
  scenario: cluster('lifecycle-pod-ip-reuse', [
    { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }] },
    { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
    { namespace: 'x', name: 'slot-a', node: 0, ips: ['10.244.0.20'] },
    { namespace: 'x', name: 'slot-b', node: 1, ips: ['10.244.1.20'] },
  ]),
  emptySlots: ['x/slot-a', 'x/slot-b'],
  async body(ctx) {
    await ctx.apply('NetworkPolicy', SERVER_FROM_CLIENTS);
    await ctx.apply('NetworkPolicy', DB_DENY_ALL);
    await ctx.putPod('x/slot-a', 'old-client', { role: 'client' }, 'Running');
    await ctx.putPod('x/slot-b', 'old-db', { role: 'db' }, 'Running');
    await ctx.settle('first owners');
    await ctx.expect('first owners', 'x/slot-a', 'x/server', true);
    await ctx.expect('first owners', 'x/client', 'x/slot-b', false);

    // The old pods finish (their status keeps the addresses) and new pods get the same addresses.
    await ctx.putPod('x/slot-a', 'old-client', { role: 'client' }, 'Succeeded');
    await ctx.putPod('x/slot-b', 'old-db', { role: 'db' }, 'Succeeded');
    await ctx.putPod('x/slot-a', 'new-other', { role: 'other' }, 'Running');
    await ctx.putPod('x/slot-b', 'new-web', { role: 'web' }, 'Running');
    await ctx.settle('new owners while the old pods still exist');
    await ctx.expect('the running new owner wins', 'x/slot-a', 'x/server', false);
    await ctx.expect('the running new owner wins', 'x/client', 'x/slot-b', true);

    await ctx.deletePod('old-client');
    await ctx.deletePod('old-db');
    await ctx.settle('old pods deleted');
    await ctx.expect('deleting the finished pod changes nothing', 'x/slot-a', 'x/server', false);
    await ctx.expect('deleting the finished pod changes nothing', 'x/client', 'x/slot-b', true);

    // Delete and re-create in one burst: the agents see both in one sync.
    await ctx.deletePod('new-other');
    await ctx.deletePod('new-web');
    await ctx.putPod('x/slot-a', 'again-client', { role: 'client' }, 'Running');
    await ctx.putPod('x/slot-b', 'again-db', { role: 'db' }, 'Running');
    await ctx.settle('owners replaced in one burst');
    await ctx.expect('owner replaced in one burst', 'x/slot-a', 'x/server', true);
    await ctx.expect('owner replaced in one burst', 'x/client', 'x/slot-b', false);

    await ctx.deletePod('again-client');
    await ctx.deletePod('again-db');
    await ctx.settle('addresses free');
    await ctx.expect('a free address is no client', 'x/slot-a', 'x/server', false);
    await ctx.expect('a free address is not isolated', 'x/client', 'x/slot-b', true);
  },
};

const lateIp: LifecycleCase = {
  name: 'lifecycle-pod-gets-ip-late',
  scenario: cluster('lifecycle-pod-gets-ip-late', [
    { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }] },
    { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
    { namespace: 'x', name: 'late-client', node: 0, ips: ['10.244.0.20'] },
    { namespace: 'x', name: 'late-db', node: 1, ips: ['10.244.1.20'] },
  ]),
  emptySlots: ['x/late-client', 'x/late-db'],
  async body(ctx) {
    await ctx.apply('NetworkPolicy', SERVER_FROM_CLIENTS);
    await ctx.apply('NetworkPolicy', DB_DENY_ALL);
    await ctx.settle('policies first');
    await ctx.putPod('x/late-client', 'late-client', { role: 'client' }, 'Pending');
    await ctx.putPod('x/late-db', 'late-db', { role: 'db' }, 'Pending');
    await ctx.settle('pods scheduled, no addresses yet');
    await ctx.expect('a client without an address in the API is no peer yet', 'x/late-client', 'x/server', false);

    await ctx.putPod('x/late-client', 'late-client', { role: 'client' }, 'Running');
    await ctx.putPod('x/late-db', 'late-db', { role: 'db' }, 'Running');
    await ctx.settle('addresses reported');
    await ctx.expect('the client is a peer once its address is known', 'x/late-client', 'x/server', true);
    await ctx.expect('the isolated pod is isolated once its address is known', 'x/client', 'x/late-db', false);
  },
};

interface Flow {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly connects: boolean;
}

const trafficDuringChanges: LifecycleCase = {
  name: 'lifecycle-policies-change-while-traffic-flows',
  scenario: cluster('lifecycle-policies-change-while-traffic-flows', [
    { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP' }] },
    { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
    { namespace: 'x', name: 'neighbour', labels: { role: 'client' }, node: 1 },
    { namespace: 'x', name: 'stranger', labels: { role: 'stranger' }, node: 0 },
  ]),
  emptySlots: [],
  async body(ctx) {
    await ctx.apply('NetworkPolicy', SERVER_FROM_CLIENTS);
    await ctx.settle('the base policy');
    // Throughout the changes below, every one of these verdicts stays what it is: a connection that
    // fails where it should connect is a moment of closed traffic, one that connects where it should not
    // is a moment of open traffic. Either would mean a change was not applied atomically.
    const flows: Flow[] = [
      { from: 'x/client', to: 'x/server', port: 80, connects: true },
      { from: 'x/neighbour', to: 'x/server', port: 80, connects: true },
      { from: 'x/stranger', to: 'x/server', port: 80, connects: false },
      { from: 'x/client', to: 'x/server', port: 81, connects: false },
    ];
    for (const f of flows) await ctx.expect('before the changes', f.from, f.to, f.connects, f.port);

    const writes: (() => Promise<void>)[] = [
      // The server's allow-set changes (its chain is replaced) without touching port 80 for clients.
      () => ctx.apply('NetworkPolicy', policy('extra', { podSelector: role('server'), ingress: [{ from: [{ podSelector: role('other') }], ports: [{ port: 81 }] }] })),
      () => ctx.deletePolicy('extra'),
      // The same policy written another way: a new peer set and chain replace the old ones.
      () => ctx.apply('NetworkPolicy', policy('server-from-clients', { podSelector: role('server'), ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['client'] }] } }], ports: [{ port: 80, protocol: 'TCP' }] }] })),
      () => ctx.apply('NetworkPolicy', SERVER_FROM_CLIENTS),
      // The clients' egress becomes isolated, allowing what they already do, and back.
      () => ctx.apply('NetworkPolicy', policy('clients-egress', { podSelector: role('client'), policyTypes: ['Egress'], egress: [{ to: [{ podSelector: role('server') }], ports: [{ port: 80 }] }] })),
      () => ctx.deletePolicy('clients-egress'),
    ];
    let rev = 0;
    writes.push(
      () => ctx.putPod('x/server', 'server', { role: 'server', rev: String(++rev) }, 'Running'),
      () => ctx.apply('Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { rev: String(++rev) } } }),
    );

    let stop = false;
    const tallies = flows.map(() => ({ probes: 0, wrong: 0 }));
    // Each flow starts a new connection every few milliseconds without waiting for the last one: a
    // blocked probe waits out its timeout, and only the moment its SYN is sent is sampled.
    const probers = flows.map(async (f, i) => {
      const inFlight = new Set<Promise<void>>();
      while (!stop) {
        // A bare connect with a timeout below TCP's first SYN retransmission (1 s): a SYN dropped even
        // once shows as a failure, where curl would wait for the retransmission and hide it.
        const probe: Promise<void> = ctx.run.cluster.probe(ctx.pod(f.from), { ip: ctx.pod(f.to).ips[0]!, port: f.port, protocol: 'TCP' }, 900, 'socket').then((ok) => {
          tallies[i]!.probes++;
          if (ok !== f.connects) tallies[i]!.wrong++;
          inFlight.delete(probe);
        });
        inFlight.add(probe);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(inFlight);
    });
    const ROUNDS = 10;
    for (let round = 0; round < ROUNDS; round++) {
      for (const write of writes) {
        await write();
        // Some writes alone, some in bursts that the agents coalesce into one transaction.
        if (Math.random() < 0.5) await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 30));
      }
      await ctx.settle(`round ${round + 1} of changes`);
    }
    stop = true;
    await Promise.all(probers);
    flows.forEach((f, i) => {
      const { probes, wrong } = tallies[i]!;
      if (probes < ROUNDS * 4) ctx.failures.push(`${f.from} -> ${f.to}:${f.port}: only ${probes} probes during the changes`);
      if (wrong > 0) ctx.failures.push(`${f.from} -> ${f.to}:${f.port}: ${wrong} of ${probes} probes during ${ROUNDS * writes.length} changes ${f.connects ? 'were blocked' : 'connected'}`);
    });
    console.log(`     ${ROUNDS * writes.length} changes; probes per flow: ${tallies.map((t) => t.probes).join(', ')}`);
  },
};

const establishedSurvives: LifecycleCase = {
  name: 'lifecycle-established-connections-outlive-a-deny',
  scenario: cluster('lifecycle-established-connections-outlive-a-deny', [
    { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }] },
    { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
    { namespace: 'x', name: 'neighbour', labels: { role: 'client' }, node: 1 },
  ]),
  emptySlots: [],
  async body(ctx) {
    await ctx.apply('NetworkPolicy', SERVER_FROM_CLIENTS);
    await ctx.settle('clients allowed');
    const server = { ip: ctx.pod('x/server').ips[0]!, port: 80, protocol: 'TCP' as const };
    const connections = [];
    for (const from of ['x/client', 'x/neighbour']) {
      const id = await ctx.run.cluster.hold(ctx.pod(from), server);
      if (id === null) ctx.failures.push(`${from} could not open a connection to the server while allowed`);
      else connections.push({ from, id });
    }
    // The policy now admits another role only: new connections from the clients are denied...
    await ctx.apply('NetworkPolicy', policy('server-from-clients', { podSelector: role('server'), ingress: [{ from: [{ podSelector: role('other') }] }] }));
    await ctx.settle('clients denied');
    await ctx.expect('a new connection after the deny', 'x/client', 'x/server', false);
    await ctx.expect('a new connection after the deny', 'x/neighbour', 'x/server', false);
    // ...and the established ones keep flowing (conntrack accepts them first, as the README says).
    for (const { from, id } of connections) {
      if (!(await ctx.run.cluster.ping(ctx.pod(from), id))) ctx.failures.push(`${from}: the connection established before the deny stopped flowing`);
    }
  },
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * The case above inverted, with --strict-mode: held TCP and UDP connections from a client on the other
 * node and a neighbour on the server's node end when a change denies them (ingress), and when the
 * client's own egress is closed (egress), while a keeper's connections, still allowed, go on. Each flow
 * is pinged every few milliseconds; the time from the API write to its last echo is the measure.
 */
const establishedEndStrict: LifecycleCase = {
  name: 'lifecycle-strict-mode-ends-denied-connections',
  agentArgs: ['--strict-mode'],
  scenario: cluster('lifecycle-strict-mode-ends-denied-connections', [
    { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] },
    { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
    { namespace: 'x', name: 'neighbour', labels: { role: 'client' }, node: 1 },
    { namespace: 'x', name: 'keeper', labels: { role: 'keeper' }, node: 0 },
  ]),
  emptySlots: [],
  async body(ctx) {
    const serverFrom = (roles: string[]) =>
      policy('server-from', { podSelector: role('server'), ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: roles }] } }] }] });
    const clientNoEgress = policy('client-no-egress', { podSelector: role('client'), policyTypes: ['Egress'] });
    const ip = ctx.pod('x/server').ips[0]!;
    const targets = [{ ip, port: 80, protocol: 'TCP' as const }, { ip, port: 53, protocol: 'UDP' as const }];
    const lastEchoMs: number[] = [];
    const ROUNDS = 5;
    for (let round = 0; round < ROUNDS; round++) {
      const egressRound = round % 2 === 1;
      await ctx.apply('NetworkPolicy', serverFrom(['client', 'keeper']));
      if (egressRound) await ctx.deletePolicy('client-no-egress').catch(() => undefined);
      await ctx.settle('clients allowed');
      const flows: { from: string; protocol: string; id: number; denied: boolean; last: number }[] = [];
      for (const from of ['x/client', 'x/neighbour', 'x/keeper']) {
        for (const target of targets) {
          const id = await ctx.run.cluster.hold(ctx.pod(from), target);
          if (id === null) ctx.failures.push(`round ${round + 1}: ${from} could not open a ${target.protocol} connection while allowed`);
          else flows.push({ from, protocol: target.protocol, id, denied: from !== 'x/keeper', last: 0 });
        }
      }
      let stop = false;
      const pingers = flows.map(async (flow) => {
        while (!stop) {
          if (await ctx.run.cluster.ping(ctx.pod(flow.from), flow.id, 100)) flow.last = Date.now();
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Odd rounds close the clients' egress; even rounds the server's ingress to them.
      const written = Date.now();
      await ctx.apply('NetworkPolicy', egressRound ? clientNoEgress : serverFrom(['keeper']));
      await new Promise((resolve) => setTimeout(resolve, 2000));
      stop = true;
      await Promise.all(pingers);
      for (const flow of flows) {
        const what = `round ${round + 1} (${egressRound ? 'egress' : 'ingress'} deny): ${flow.from} ${flow.protocol}`;
        if (!flow.denied) {
          if (Date.now() - flow.last > 300) ctx.failures.push(`${what}: still allowed, but stopped flowing`);
        } else {
          const ms = flow.last - written;
          lastEchoMs.push(ms);
          if (ms > 1000) ctx.failures.push(`${what}: kept flowing ${ms} ms after the write`);
        }
      }
      await ctx.deletePolicy('client-no-egress').catch(() => undefined);
    }
    const sorted = [...lastEchoMs].sort((a, b) => a - b);
    console.log(`     API write to a denied flow's last echo (${sorted.length} flows, TCP and UDP, both directions): p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`);
  },
};

export const LIFECYCLE_CASES: readonly LifecycleCase[] = [ipReuse, lateIp, trafficDuringChanges, establishedSurvives, establishedEndStrict];

let current: SandboxCluster | undefined;

/** Runs one case in a fresh sandbox cluster; returns its failures (empty: passed). */
export async function runLifecycle(c: LifecycleCase, backend: ApiBackend = doubleBackend, enforcer: EnforcerChoice = 'nftpol'): Promise<string[]> {
  const run = await SandboxRun.start(c.scenario, enforcer, (cluster) => (current = cluster), (pod) => (c.emptySlots.includes(pod.key) ? null : podObject(pod)), backend, c.agentArgs);
  try {
    const ctx = new LifecycleContext(run);
    await c.body(ctx);
    return ctx.failures;
  } finally {
    await run.destroy();
  }
}

/** Runs every case, prints one line each; true when all passed. */
export async function runAllLifecycles(backend: ApiBackend = doubleBackend, enforcer: EnforcerChoice = 'nftpol'): Promise<boolean> {
  let ok = true;
  for (const c of LIFECYCLE_CASES) {
    const t = Date.now();
    if (process.env.LIFECYCLE_CASE && !c.name.includes(process.env.LIFECYCLE_CASE)) continue;
    // A peer's case that cannot finish (it never settles) is one of its results, not the end of the run.
    const peer = enforcer === 'kube-router' || enforcer === 'kube-network-policies';
    const failures = peer ? await runLifecycle(c, backend, enforcer).catch((error: Error) => [`could not run: ${error.message.split('\n')[0]}`]) : await runLifecycle(c, backend, enforcer);
    ok &&= failures.length === 0;
    console.log(`${failures.length > 0 ? 'FAIL' : 'ok  '} ${c.name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    for (const f of failures) console.log(`     ${f}`);
  }
  return ok;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // API=real (the default) or API=double, as for make e2e.
  const choice = await apiBackendFromEnv('real');
  // Ctrl-C removes what the running case created.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () =>
      void (current?.destroy() ?? Promise.resolve())
        .then(() => choice.stop())
        .then(() => process.exit(130)),
    );
  let ok = false;
  try {
    ok = await runAllLifecycles(choice.backend);
  } finally {
    await choice.stop();
  }
  process.exit(ok ? 0 : 1);
}
