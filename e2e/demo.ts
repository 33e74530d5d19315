// make demo: nftpol enforcing the seed pages' policies with real packets. A two-node sandbox cluster with
// the seed examples' pods (examples/seeds/pods.yaml), the real agent on each node; the connectivity
// matrix before any policy, then each seed example's policies in turn, with the matrix and an
// `nftpol explain` after each, a few of the denied-connection log's lines (--deny-log), a few of the
// agents' metrics, and everything removed at the end. The agents also run with --strict-mode.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { decide } from '../src/engine/decide.js';
import { formatMatrix } from '../src/engine/matrix.js';
import { explainText } from '../src/cli/offline.js';
import { ScenarioModel } from '../src/scenario/evaluate.js';
import { parseScenario, probeKey, type Scenario } from '../src/scenario/format.js';
import { runScenario } from './runner/run.js';
import { CONTROL_PLANE_IP } from './sandbox/cluster.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEEDS = join(ROOT, 'examples', 'seeds');

type Raw = { kind?: string; metadata?: { name?: string; namespace?: string; labels?: Record<string, string> }; spec?: { nodeName?: string; containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[] }; status?: { podIPs?: { ip: string }[] } };

/** A scenario (the FORMAT.md shape) built from the seed examples. */
function demoScenario(): { scenario: Scenario; files: string[] } {
  const list = parse(readFileSync(join(SEEDS, 'pods.yaml'), 'utf8')) as { items: Raw[] };
  const namespaces = list.items.filter((o) => o.kind === 'Namespace').map((o) => ({ name: o.metadata!.name!, labels: o.metadata!.labels ?? {} }));
  const pods = list.items
    .filter((o) => o.kind === 'Pod')
    .map((o) => ({
      namespace: o.metadata!.namespace!,
      name: o.metadata!.name!,
      labels: o.metadata!.labels ?? {},
      node: Number(o.spec!.nodeName!.replace('node-', '')),
      ips: o.status!.podIPs!.map((p) => p.ip),
      ports: (o.spec!.containers ?? []).flatMap((c) => c.ports ?? []).map((p) => ({ port: p.containerPort, protocol: p.protocol ?? 'TCP', ...(p.name ? { name: p.name } : {}) })),
    }));
  const files = readdirSync(SEEDS).filter((f) => /^\d\d-.*\.yaml$/.test(f)).sort();
  const policiesOf = (file: string) => parseAllDocuments(readFileSync(join(SEEDS, file), 'utf8')).map((d) => d.toJS() as Raw);
  const probes = [{ port: 80, protocol: 'TCP' }, { port: 8080, protocol: 'TCP' }];
  const steps = [{ name: 'no policy', probes }];
  let previous: Raw[] = [];
  for (const file of files) {
    const policies = policiesOf(file).map((p) => ({ ...p, metadata: { ...p.metadata, namespace: p.metadata?.namespace ?? 'default' } }));
    steps.push({
      name: file,
      apply: policies,
      delete: previous.map((p) => ({ kind: 'NetworkPolicy', namespace: p.metadata!.namespace!, name: p.metadata!.name! })).filter((d) => !policies.some((p) => p.metadata.name === d.name && p.metadata.namespace === d.namespace)),
      probes,
    } as never);
    previous = policies;
  }
  const text = JSON.stringify({ name: 'seed-demo', cluster: { nodes: 2 }, namespaces, pods, steps });
  return { scenario: parseScenario(text), files };
}

/** One question per example, answered by the engine. */
const QUESTIONS: Record<string, [string, string, number]> = {
  'no policy': ['default/other', 'default/backend', 80],
  '01-default-deny.yaml': ['default/frontend', 'default/backend', 80],
  '02-allow-frontend-to-backend.yaml': ['default/other', 'default/backend', 80],
  '03-beginners-guide-misplaced-ports.yaml': ['default/frontend', 'default/backend', 80],
  '04-production-isolation.yaml': ['production/frontend', 'production/backend', 8080],
};

// The agents' logs, to show the denied-connection lines they write (run.ts keeps them there).
const logs = mkdtempSync(join(tmpdir(), 'nftpol-demo-'));
process.env.NFTPOL_AGENT_LOGS = logs;
const shown = new Map<string, number>();
/** The denied-connection lines the agents wrote since the last call (at most `max`), and how many in all. */
function newDenials(max: number): { lines: string[]; total: number } {
  const lines: string[] = [];
  for (const file of readdirSync(logs).sort()) {
    const all = readFileSync(join(logs, file), 'utf8').split('\n').filter((l) => l.includes('"msg":"denied connection"'));
    lines.push(...all.slice(shown.get(file) ?? 0));
    shown.set(file, all.length);
  }
  return { lines: lines.slice(0, max), total: lines.length };
}

const { scenario } = demoScenario();
const model = new ScenarioModel(scenario);
const pods = scenario.pods.map((p) => p.key);
console.log(`nftpol demo: ${scenario.pods.length} pods on ${scenario.nodes} nodes (network namespaces), one nftpol agent per node\n`);
const started = Date.now();
const output = await runScenario(scenario, false, {
  agentArgs: ['--deny-log', '--strict-mode'],
  afterStep: async (step, result) => {
    model.apply(step);
    console.log(`=== ${step.name}${step.apply.length ? `: ${step.apply.map((p) => (p.metadata as { name: string }).name).join(', ')}` : ''} (enforced ${(result.settleSeconds * 1000).toFixed(0)} ms after the API write)`);
    for (const probe of step.probes) console.log(`${formatMatrix(probeKey(probe), pods, result.results[probeKey(probe)]!)}\n`);
    // What the packets showed against what the policies say (the engine, with the ports each pod serves).
    const expected = model.results(step);
    const differences = step.probes.flatMap((probe) => pods.filter((from) => expected[probeKey(probe)]![from] !== result.results[probeKey(probe)]![from]));
    console.log(differences.length === 0 ? "real packets agree with the policies' verdict\n" : `DIFFERS from the policies' verdict for ${differences.join(', ')}\n`);
    const question = QUESTIONS[step.name];
    if (question) {
      const [from, to, port] = question;
      const verdict = decide(model.engine, { src: { pod: from }, dst: { pod: to }, port, protocol: 'TCP', family: 'IPv4' });
      console.log(`$ nftpol explain --from ${from} --to ${to} --port ${port}/TCP`);
      console.log(explainText({ from, to, port: { port, protocol: 'TCP' }, family: 'IPv4' }, verdict));
    }
    const denials = newDenials(3);
    if (denials.total > 0) {
      console.log(`denied-connection log (--deny-log): ${denials.total} lines from both agents for this step's probes (at most 20 a second per node), the first ${denials.lines.length}:`);
      for (const line of denials.lines) console.log(`  ${line}`);
      console.log();
    }
  },
  beforeDestroy: async (cluster) => {
    const metrics = await execa('ip', ['netns', 'exec', cluster.node(1), 'curl', '-s', 'http://127.0.0.1:9745/metrics'], { reject: false });
    const wanted = /^nftpol_(sync_duration_seconds_count|network_programming_duration_seconds_(sum|count)|local_pods|nft_chains|nft_set_elements|denied_packets_total|denied_connections_(logged|suppressed)_total|strict_sweeps_total)/;
    console.log('=== a few metrics of the agent on node-1 (curl http://127.0.0.1:9745/metrics)');
    console.log(String(metrics.stdout).split('\n').filter((l) => wanted.test(l)).join('\n'));
    // explain against the live (double) API server, run on node-1 as an operator would on a node: the
    // verdict, and the kernel's deny counters of the pods from that node's agent.
    const dir = mkdtempSync(join(tmpdir(), 'nftpol-demo-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      // The runner starts the API server double on the fabric at port 6443 (e2e/runner/run.ts).
      writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: sandbox, cluster: {server: "http://${CONTROL_PLANE_IP}:6443", insecure-skip-tls-verify: true}}]\nusers: [{name: viewer, user: {token: demo}}]\ncontexts: [{name: sandbox, context: {cluster: sandbox, user: viewer}}]\ncurrent-context: sandbox\n`);
      const args = ['explain', '--kubeconfig', kubeconfig, '--from', 'default/other', '--to', 'production/backend', '--port', '8080/TCP', '--node', '--metrics-url', 'http://127.0.0.1:9745/metrics'];
      const explain = await execa('ip', ['netns', 'exec', cluster.node(1), process.execPath, join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], { reject: false });
      console.log(`\n=== on node-1, against the cluster: nftpol ${args.join(' ').replace(kubeconfig, '<sandbox kubeconfig>')}`);
      console.log(String(explain.stdout) + String(explain.stderr));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
if (existsSync(logs)) rmSync(logs, { recursive: true, force: true });
const mismatches = output.steps.flatMap((s) => s.mismatches).length;
console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s; the sandbox cluster is removed${mismatches ? `; ${mismatches} mismatches` : ''}`);
