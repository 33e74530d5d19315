// make bench-scrape: what Prometheus scrapes cost the dataplane. The built `nftpol agent` process, real nft,
// against the API server double (2,000 pods, 200 of them on the agent's node and isolated, so 400 deny
// counters); a tenant changes a policy every 100 ms. Phases, in one run, each with a fresh agent:
//   quiet          no scraper
//   scraped        32 scrapers fetching /metrics in a loop (default --counter-read-interval 10s)
//   scraped-0s     the same with --counter-read-interval=0ms (a read whenever none is in flight)
//   baseline       the same 32 scrapers against BASELINE_CLI, an older build (optional: an nft read per scrape)
// Prints per phase the programming latency of the tenant's changes (p50/p99/max), /healthz response time
// (p50/p99/max, polled every 100 ms), scrapes served and nft counter reads.
import { execa, type ResultPromise } from 'execa';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { agentNodeOptions } from '../e2e/daemonset.js';
import { inOwnNetworkNamespace } from './own-netns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 20_000);
const SCRAPERS = 32;
const NAMESPACES = 50;
const PODS_PER_NAMESPACE = 40;
const NODES = 10;

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const fmt = (values: readonly number[]) => `p50 ${percentile(values, 50).toFixed(1)}, p99 ${percentile(values, 99).toFixed(1)}, max ${Math.max(...values).toFixed(1)} ms`;

function loadCluster(api: ApiServerDouble): void {
  let n = 0;
  for (let i = 0; i < NAMESPACES; i++) {
    const namespace = `t${i}`;
    api.apply('Namespace', { metadata: { name: namespace } });
    for (let j = 0; j < PODS_PER_NAMESPACE; j++, n++) {
      const node = `node-${n % NODES}`;
      api.apply('Pod', {
        metadata: { namespace, name: `p${j}`, labels: { app: `a${j % 4}` } },
        spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
        status: { phase: 'Running', podIPs: [{ ip: `10.${16 + Math.floor(n / 65536)}.${Math.floor(n / 256) % 256}.${n % 256}` }] },
      });
    }
    // Every local pod isolated both ways: one ingress and one egress deny counter each.
    api.apply('NetworkPolicy', { metadata: { namespace, name: 'deny' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } });
    api.apply('NetworkPolicy', { metadata: { namespace, name: 'same-app' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 80 }] }] } });
  }
}

/** 32 concurrent fetch loops in a process of their own, so that the measuring process is not the one busy. */
function startScrapers(url: string): ResultPromise {
  const script = `let n=0;const loop=async()=>{for(;;){try{await (await fetch(${JSON.stringify(url)})).text();n++}catch{await new Promise(r=>setTimeout(r,10))}}};for(let i=0;i<${SCRAPERS};i++)loop();process.on('SIGTERM',()=>{process.stdout.write(String(n));process.exit(0)});`;
  return execa(process.execPath, ['-e', script], { reject: false });
}

interface Phase {
  readonly name: string;
  readonly cli: string;
  readonly args: readonly string[];
  readonly scrape: boolean;
}

async function runPhase(api: ApiServerDouble, phase: Phase, port: number): Promise<Record<string, unknown>> {
  const agent = execa(process.execPath, [...agentNodeOptions(), phase.cli, 'agent', '--kubeconfig', api.kubeconfig, '--node-name', 'node-0', ...phase.args], { reject: false, buffer: false, stdout: 'pipe', stderr: 'inherit' });
  const latencies: number[] = [];
  let measuring = false;
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    const entry = JSON.parse(line) as { msg: string; latencyMs?: number };
    if (measuring && entry.msg === 'sync' && entry.latencyMs !== undefined) latencies.push(entry.latencyMs);
  });
  const healthzPort = phase.args.includes('--listen') ? port : port + 1;
  const get = (p: number, path: string) => fetch(`http://127.0.0.1:${p}${path}`).then(async (r) => ({ status: r.status, text: await r.text() }), () => ({ status: 0, text: '' }));
  try {
    while ((await get(healthzPort, '/readyz')).status !== 200) {
      if (agent.exitCode !== null) throw new Error(`the agent of phase ${phase.name} exited`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const scrapers = phase.scrape ? startScrapers(`http://127.0.0.1:${port}/metrics`) : null;
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let the scrapers get going
    measuring = true;
    const healthz: number[] = [];
    let failedHealthz = 0;
    const started = Date.now();
    let i = 0;
    const tenant = setInterval(() => {
      i++;
      api.apply('NetworkPolicy', { metadata: { namespace: 't0', name: 'tenant' }, spec: { podSelector: { matchLabels: { app: 'a0' } }, ingress: [{ ports: [{ port: 10_000 + (i % 1000) }] }] } });
    }, 100);
    while (Date.now() - started < PHASE_MS) {
      const t = performance.now();
      const r = await get(healthzPort, '/healthz');
      healthz.push(performance.now() - t);
      if (r.status !== 200) failedHealthz++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    clearInterval(tenant);
    measuring = false;
    let scrapes = 0;
    if (scrapers) {
      scrapers.kill('SIGTERM');
      scrapes = Number((await scrapers).stdout);
    }
    const metrics = (await get(port, '/metrics')).text;
    const reads = metrics.split('\n').filter((l) => l.startsWith('nftpol_nft_counter_reads_total')).reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
    const counters = metrics.split('\n').filter((l) => /^nftpol_denied_packets(_total)?\{/.test(l)).length; // older builds: the gauge without _total
    return {
      phase: phase.name,
      syncs: latencies.length,
      latency: fmt(latencies),
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      healthz: fmt(healthz),
      healthzP99Ms: percentile(healthz, 99),
      healthzMaxMs: Math.max(...healthz),
      failedHealthz,
      scrapesPerSecond: Math.round(scrapes / (PHASE_MS / 1000 + 1)),
      counterReads: metrics.includes('nftpol_nft_counter_reads_total') ? reads : 'not counted',
      denyCounters: counters,
    };
  } finally {
    agent.kill('SIGTERM');
    await agent;
  }
}

async function main(): Promise<void> {
  await execa('ip', ['link', 'set', 'lo', 'up']);
  const api = new ApiServerDouble();
  await api.start();
  loadCluster(api);
  const port = 19745;
  const bind = ['--metrics-bind-address', `127.0.0.1:${port}`, '--healthz-bind-address', `127.0.0.1:${port + 1}`];
  const phases: Phase[] = [
    { name: 'quiet', cli: CLI, args: bind, scrape: false },
    { name: 'scraped', cli: CLI, args: bind, scrape: true },
    { name: 'scraped-0s', cli: CLI, args: [...bind, '--counter-read-interval', '0ms'], scrape: true },
  ];
  if (process.env.BASELINE_CLI) phases.push({ name: 'baseline', cli: process.env.BASELINE_CLI, args: ['--listen', `127.0.0.1:${port}`], scrape: true });
  try {
    console.log(`nftpol scrape benchmark: ${NAMESPACES * PODS_PER_NAMESPACE} pods, ${SCRAPERS} scrapers in a loop, a policy change every 100 ms, ${PHASE_MS / 1000} s per phase, real nft`);
    for (const phase of phases) {
      const result = await runPhase(api, phase, port);
      console.log(`  ${phase.name.padEnd(11)} programming latency ${result.latency} (${result.syncs} syncs); /healthz ${result.healthz}, ${result.failedHealthz} failed; ${result.scrapesPerSecond} scrapes/s, ${result.counterReads} counter reads, ${result.denyCounters} deny counters`);
      console.log(JSON.stringify(result));
    }
  } finally {
    await api.destroy();
  }
}

await inOwnNetworkNamespace({ BENCH_PHASE_MS: String(PHASE_MS), ...(process.env.BASELINE_CLI ? { BASELINE_CLI: process.env.BASELINE_CLI } : {}) });
await main();
