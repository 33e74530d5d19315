// make bench-abuse: what one hostile tenant, writing only NetworkPolicies in its own namespace and staying
// within the per-policy limits, costs another tenant. The built `nftpol agent` process runs against the API
// server double with real nft, in a network namespace of its own. A well-behaved tenant changes an ordinary
// policy every 100 ms, first alone (baseline) and then while the hostile tenant posts and keeps rewriting
// worst-case policies (10,000 non-adjacent excepts, 10,000 In/NotIn values, 1,000 rules with a peer and a
// port each). Prints, per phase: the well-behaved tenant's programming latency (API write to the agent's
// sync log saying it is enforced) p50/p99, /healthz response times, the agent's longest event-loop stall;
// and the agent's peak heap and RSS. First, in this process, the ipBlock subtraction against the quadratic
// one it replaced.
import { DEFAULT_POLICY_LIMITS } from '../src/model/limits.js';
import { execa } from 'execa';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { agentNodeOptions } from '../e2e/daemonset.js';
import { blockRanges } from '../src/nft/intervals.js';
import { blockRangesByRepeatedSubtraction } from './intervals-reference.js';
import { inOwnNetworkNamespace } from './own-netns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// BENCH_AGENT_CLI=<main.js of another build> measures that agent instead (e.g. main's, for a before/after).
const CLI = process.env.BENCH_AGENT_CLI ?? join(ROOT, 'dist', 'src', 'cli', 'main.js');
const LOOP_MONITOR = join(ROOT, 'dist', 'bench', 'loop-monitor.js');
const PORT = 19746;
const CHANGES = Number(process.env.BENCH_CHANGES ?? 100);
const GOOD_EVERY_MS = 100;
/** The hostile tenant rewrites one of its policies this often (the API server, not nftpol, limits this rate). */
const HOSTILE_EVERY_MS = Number(process.env.BENCH_HOSTILE_EVERY_MS ?? 100);
/** How many copies of each worst-case policy the hostile tenant keeps (their number is bounded by ResourceQuota only). */
const HOSTILE_COPIES = Number(process.env.BENCH_HOSTILE_COPIES ?? 1);
/** kubelet's liveness probe timeout in daemonset/daemonset.yaml: an answer slower than this is a failure. */
const PROBE_TIMEOUT_MS = 3000;

/** The hostile tenant stays exactly at the agent's default per-policy limits. */
const LIMITS = DEFAULT_POLICY_LIMITS;

type Json = Record<string, unknown>;

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const ms = (n: number) => `${n.toFixed(1)} ms`;
const sleep = (n: number) => new Promise((resolve) => setTimeout(resolve, n));

/** `n` addresses of 10.0.0.0/8 with a gap between any two, so that no two holes merge: 10.0.0.1/32, 10.0.0.3/32, ... */
function nonAdjacentExcepts(n: number, shift: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const v = 2 * i + 1 + 2 * shift;
    return `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}/32`;
  });
}

/** Times one call (ms). */
function time(run: () => unknown): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function subtractionBench(): void {
  console.log('ipBlock except subtraction, one CIDR minus n non-adjacent /32 excepts (this process):');
  for (const n of [1000, 2000, 4000, 8000, LIMITS.maxExcepts, 32000]) {
    const excepts = nonAdjacentExcepts(n, 0);
    const now = time(() => blockRanges('10.0.0.0/8', excepts));
    const before = n <= 8000 ? time(() => blockRangesByRepeatedSubtraction('10.0.0.0/8', excepts)) : NaN;
    const ratio = Number.isNaN(before) ? '' : `, ${(before / now).toFixed(0)}x faster`;
    console.log(`  n=${String(n).padStart(5)}  sort+sweep ${ms(now).padStart(9)}   repeated subtraction (before) ${Number.isNaN(before) ? '(skipped: quadratic)' : ms(before)}${ratio}`);
  }
}

// The hostile tenant's worst cases, each within every limit; all select the tenant's own pods on the node.
function hostilePolicies(shift: number, copy: number): Json[] {
  const meta = (name: string) => ({ namespace: 'evil', name: `${name}-${copy}` });
  const all = { podSelector: {}, policyTypes: ['Ingress'] };
  const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${shift}-${i}`);
  return [
    { metadata: meta('excepts'), spec: { ...all, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: nonAdjacentExcepts(LIMITS.maxExcepts, shift + copy) } }] }] } },
    {
      metadata: meta('values'),
      spec: {
        ...all,
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'NotIn', values: values('t', LIMITS.maxSelectorValues / 2) }] },
                podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [...values('a', LIMITS.maxSelectorValues / 2 - 1), 'web'] }] },
              },
            ],
          },
        ],
      },
    },
    {
      metadata: meta('rules'),
      spec: {
        ...all,
        ingress: Array.from({ length: LIMITS.maxRules }, (_, i) => ({
          from: [{ ipBlock: { cidr: `172.16.${(i + shift) % 256}.${(i >> 8) * 16}/28` } }],
          ports: [{ protocol: 'TCP', port: 1 + ((i + shift) % 65535) }],
        })),
      },
    },
  ];
}

interface PhaseStats {
  latencies: number[];
  health: number[];
  healthFailures: number;
  maxLoopStallMs: number;
  heapBytes: number;
}

function newStats(): PhaseStats {
  return { latencies: [], health: [], healthFailures: 0, maxLoopStallMs: 0, heapBytes: 0 };
}

async function metricValues(names: readonly string[]): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${PORT}/metrics`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ');
    if (name !== undefined && names.includes(name)) values.set(name, Number(value));
  }
  return values;
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return kb ? Number(kb[1]) * 1024 : NaN;
}

async function main(): Promise<void> {
  subtractionBench();
  await execa('ip', ['link', 'set', 'lo', 'up']);
  const api = new ApiServerDouble();
  await api.start();
  for (const name of ['good', 'evil', 'other']) api.apply('Namespace', { metadata: { name, labels: { team: name } } });
  const pod = (namespace: string, i: number, node: string) => ({
    metadata: { namespace, name: `p${i}`, labels: { app: i % 2 === 0 ? 'web' : 'db' } },
    spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
    status: { phase: 'Running', podIPs: [{ ip: `10.244.${namespace === 'good' ? 1 : namespace === 'evil' ? 2 : 3}.${i + 1}` }] },
  });
  for (let i = 0; i < 20; i++) for (const ns of ['good', 'evil', 'other']) api.apply('Pod', pod(ns, i, i % 2 === 0 ? 'node-0' : 'node-1'));
  const goodPolicy = (i: number) => ({
    metadata: { namespace: 'good', name: 'web-from-other' },
    spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'other' } } }], ports: [{ protocol: 'TCP', port: 8000 + (i % 1000) }] }] },
  });
  api.apply('NetworkPolicy', goodPolicy(0));

  const agent = execa(process.execPath, [...agentNodeOptions(), ...(process.env.AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', LOOP_MONITOR, CLI, 'agent', '--kubeconfig', api.kubeconfig, '--node-name', 'node-0', '--listen', `127.0.0.1:${PORT}`], {
    reject: false,
    buffer: false,
    stdout: 'pipe',
    stderr: 'pipe',
  });
  // Each good write waits for the first sync whose logged NetworkPolicy version includes it.
  const waiting = new Map<number, { sent: bigint; done: (ms: number) => void }>();
  // BENCH_AGENT_LOG=<file> keeps the agent's log (its sync lines say where the time went).
  const keep = process.env.BENCH_AGENT_LOG ? createWriteStream(process.env.BENCH_AGENT_LOG) : null;
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    keep?.write(`${line}\n`);
    const entry = JSON.parse(line) as { msg: string; level: string; versions?: Record<string, string>; waitingNamespaces?: Record<string, Record<string, string>>; versionsOtherNamespaces?: Record<string, string> };
    if (entry.level === 'error') console.log(`  agent error: ${line.slice(0, 300)}`);
    // While the hostile tenant's policies wait (pacing), the versions of the other lanes say what is enforced.
    const versions = entry.waitingNamespaces === undefined ? entry.versions : (entry.waitingNamespaces.good ?? entry.versionsOtherNamespaces);
    const version = Number(versions?.NetworkPolicy ?? NaN);
    if (entry.msg !== 'sync' || Number.isNaN(version)) return;
    const now = process.hrtime.bigint();
    for (const [rv, w] of waiting) {
      if (rv > version) continue;
      waiting.delete(rv);
      w.done(Number(now - w.sent) / 1e6);
    }
  });

  let stats = newStats();
  let running = true;
  createInterface({ input: agent.stderr! }).on('line', (line) => {
    const stall = /^nftpol-bench-loop-max-ms (\S+)$/.exec(line);
    if (stall) stats.maxLoopStallMs = Math.max(stats.maxLoopStallMs, Number(stall[1]));
    else process.stderr.write(`${line}\n`);
  });
  // /healthz as the kubelet asks it (but every 100 ms rather than every 10 s), and /metrics every second
  // (for the heap; the event-loop stalls come from loop-monitor.ts inside the agent).
  const healthLoop = (async () => {
    while (running) {
      const start = process.hrtime.bigint();
      const ok = await fetch(`http://127.0.0.1:${PORT}/healthz`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then((r) => r.status === 200, () => false);
      if (ok) stats.health.push(Number(process.hrtime.bigint() - start) / 1e6);
      else stats.healthFailures++;
      await sleep(100);
    }
  })();
  const metricsLoop = (async () => {
    while (running) {
      const values = await metricValues(['nftpol_nodejs_heap_size_used_bytes']).catch(() => new Map<string, number>());
      stats.heapBytes = Math.max(stats.heapBytes, values.get('nftpol_nodejs_heap_size_used_bytes') ?? 0);
      await sleep(1000);
    }
  })();
  // This process's own stalls would delay the good tenant's writes and the probes: shown, so that the
  // agent is not blamed for them.
  const ownLoop = monitorEventLoopDelay({ resolution: 10 });
  ownLoop.enable();

  // The slowest good writes by resourceVersion: with BENCH_AGENT_LOG, their syncs say what they waited for.
  let slowest: [number, number][] = [];
  const goodTenant = async (): Promise<number[]> => {
    slowest = [];
    const latencies: Promise<number>[] = [];
    for (let i = 1; i <= CHANGES; i++) {
      const sent = process.hrtime.bigint();
      const rv = Number(api.apply('NetworkPolicy', goodPolicy(i)).metadata!.resourceVersion);
      latencies.push(new Promise<number>((done) => waiting.set(rv, { sent, done: (ms) => (slowest.push([rv, ms]), done(ms)) })));
      await sleep(GOOD_EVERY_MS);
    }
    return Promise.race([Promise.all(latencies), sleep(60_000).then(() => [] as number[])]);
  };

  try {
    const startedAt = Date.now();
    while ((await fetch(`http://127.0.0.1:${PORT}/readyz`).then((r) => r.status, () => 0)) !== 200) {
      if (agent.exitCode !== null || Date.now() - startedAt > 60_000) throw new Error('the agent did not become ready');
      await sleep(20);
    }
    await sleep(1000);

    stats = newStats();
    ownLoop.reset();
    stats.latencies = await goodTenant();
    const baseline = { ...stats, ownStallMs: ownLoop.max / 1e6 };

    stats = newStats();
    ownLoop.reset();
    let shift = 0;
    let hostileWrites = 0;
    const posted = Array.from({ length: HOSTILE_COPIES }, (_, copy) => hostilePolicies(shift, copy)).flat();
    const hostileBytes = posted.reduce((sum, p) => sum + JSON.stringify(p).length, 0);
    for (const p of posted) api.apply('NetworkPolicy', p);
    hostileWrites += posted.length;
    let hostileRunning = true;
    const hostileTenant = (async () => {
      // Rewrites its policies one at a time, each time with new excepts, values and peers: every write is
      // a new worst case for the agent, not a repeat it could skip.
      while (hostileRunning) {
        await sleep(HOSTILE_EVERY_MS);
        shift++;
        const copy = shift % HOSTILE_COPIES;
        const next = hostilePolicies(shift, copy);
        api.apply('NetworkPolicy', next[shift % next.length]!);
        hostileWrites++;
      }
    })();
    stats.latencies = await goodTenant();
    const hostileSlowest = slowest.sort((a, b) => b[1] - a[1]).slice(0, 5);
    hostileRunning = false;
    await hostileTenant;
    const hostile = { ...stats, ownStallMs: ownLoop.max / 1e6 };

    running = false;
    await Promise.all([healthLoop, metricsLoop]);
    const peakRss = await peakRssBytes(agent.pid!);
    const peakHeap = Math.max(baseline.heapBytes, hostile.heapBytes);

    const row = (name: string, s: typeof baseline) =>
      `  ${name.padEnd(22)} latency p50 ${ms(percentile(s.latencies, 50)).padStart(9)}  p99 ${ms(percentile(s.latencies, 99)).padStart(9)}  (${s.latencies.length}/${CHANGES} enforced)` +
      `   /healthz p50 ${ms(percentile(s.health, 50))} p99 ${ms(percentile(s.health, 99))} max ${ms(Math.max(...s.health))}, ${s.healthFailures} failed` +
      `   agent event-loop stall max ${ms(s.maxLoopStallMs)} (bench's own ${ms(s.ownStallMs)})`;
    console.log(`\nnftpol agent, a well-behaved tenant changing a policy every ${GOOD_EVERY_MS} ms (${CHANGES} changes), real nft:`);
    console.log(row('alone (baseline)', baseline));
    console.log(row('beside hostile tenant', hostile));
    const ratio = percentile(hostile.latencies, 99) / percentile(baseline.latencies, 99);
    console.log(`  p99 with the hostile tenant / baseline p99: ${ratio.toFixed(2)}x (target <= 2x); failed health checks: ${baseline.healthFailures + hostile.healthFailures} (target 0)`);
    console.log(
      `  hostile tenant: ${HOSTILE_COPIES} x 3 policies (${LIMITS.maxExcepts} excepts; ${LIMITS.maxSelectorValues} In/NotIn values; ${LIMITS.maxRules} rules x 1 peer x 1 port), ${(hostileBytes / 1024).toFixed(0)} KB, rewritten every ${HOSTILE_EVERY_MS} ms: ${hostileWrites} writes`,
    );
    // The machine is shared: its load says how far these numbers are from an idle node's.
    console.log(`  slowest good writes beside the hostile tenant (resourceVersion: ms): ${hostileSlowest.map(([rv, t]) => `${rv}: ${t.toFixed(0)}`).join(', ')}`);
    console.log(`  machine load average (1 min) ${loadavg()[0]!.toFixed(1)} on ${navigator.hardwareConcurrency} cores`);
    console.log(`  agent peak heap used ${(peakHeap / 2 ** 20).toFixed(0)} MB (sampled every 1 s), peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MB (VmHWM)`);
    console.log(
      JSON.stringify({
        baseline: { p50: percentile(baseline.latencies, 50), p99: percentile(baseline.latencies, 99), healthP99: percentile(baseline.health, 99), healthFailures: baseline.healthFailures, stallMs: baseline.maxLoopStallMs },
        hostile: { p50: percentile(hostile.latencies, 50), p99: percentile(hostile.latencies, 99), healthP99: percentile(hostile.health, 99), healthMax: Math.max(...hostile.health), healthFailures: hostile.healthFailures, stallMs: hostile.maxLoopStallMs },
        ratioP99: ratio,
        peakHeapMB: peakHeap / 2 ** 20,
        peakRssMB: peakRss / 2 ** 20,
        hostileWrites,
      }),
    );
  } finally {
    running = false;
    agent.kill('SIGTERM');
    await agent;
    await api.destroy();
  }
}

await inOwnNetworkNamespace({ ...(process.env.BENCH_AGENT_LOG ? { BENCH_AGENT_LOG: process.env.BENCH_AGENT_LOG } : {}), BENCH_CHANGES: String(CHANGES), BENCH_HOSTILE_EVERY_MS: String(HOSTILE_EVERY_MS), BENCH_HOSTILE_COPIES: String(HOSTILE_COPIES) });
await main();
