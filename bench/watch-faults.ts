// make bench-watch-faults: how hard an agent hits the API server while the API server misbehaves. For each
// fault the API server double can produce, two built `nftpol agent` processes run side by side, each against
// a double of its own holding the same objects: the baseline (BEFORE_REF, default main, built into a
// temporary directory) and this tree. Once both are ready the fault starts, lasts FAULT_SECONDS (default
// 60), and the benchmark prints the requests per second each agent sent (lists and watches), whether
// /readyz still said ok at the end, and the failures the agent counted. Both agents use the DaemonSet's
// timing flags except --api-unreachable-grace 30s, so that readiness can turn within the window.
// Runs in a network namespace of its own (it re-runs itself under `unshare -n`); removes what it created.
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiServerDouble, type WatchFault } from '../e2e/apiserver/double.js';
import { inOwnNetworkNamespace } from './own-netns.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FAULT_SECONDS = Number(process.env.FAULT_SECONDS ?? 60);
const BEFORE_REF = process.env.BEFORE_REF ?? 'main';
const PODS = 1000;

interface Fault {
  readonly name: string;
  readonly what: string;
  readonly start: (api: ApiServerDouble) => void;
}

const watchFault = (fault: WatchFault) => (api: ApiServerDouble) => api.setWatchFault(fault);
const FAULTS: readonly Fault[] = [
  { name: 'error-500', what: 'every watch: ERROR event code 500', start: watchFault({ type: 'error', code: 500 }) },
  { name: 'error-410', what: 'every watch: ERROR event code 410 (relist)', start: watchFault({ type: 'error', code: 410 }) },
  { name: 'closed', what: 'every watch closed at once, no event', start: watchFault({ type: 'close' }) },
  { name: 'silent', what: 'every watch connects, then sends nothing', start: watchFault({ type: 'silent' }) },
  { name: 'half-event', what: 'every watch sends half an event, then nothing', start: watchFault({ type: 'half' }) },
  { name: 'down', what: 'every request (lists, watches) answered 503', start: (api) => api.setDown(true) },
];

interface Side {
  readonly label: string;
  readonly cli: string;
  readonly table: string;
  readonly port: number;
}

interface Measured {
  readonly lists: number;
  readonly watches: number;
  readonly ready: number;
  readonly failures: number | null;
  readonly warnings: number;
}

/** The baseline's tree, built with this tree's node_modules; the caller removes the directory. */
async function buildBaseline(dir: string): Promise<string> {
  const archive = execa('git', ['-C', ROOT, 'archive', '--format=tar', BEFORE_REF], { encoding: 'buffer' });
  await execa('tar', ['-x', '-C', dir], { input: (await archive).stdout });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await execa(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(dir, 'tsconfig.json')]);
  return join(dir, 'dist', 'src', 'cli', 'main.js');
}

function seed(api: ApiServerDouble): void {
  for (const ns of ['a', 'b', 'c']) api.apply('Namespace', { metadata: { name: ns, labels: { team: ns } } });
  for (let i = 0; i < PODS; i++) {
    const node = i % 10 === 0 ? 'bench-node' : `node-${i % 50}`;
    api.apply('Pod', {
      metadata: { namespace: ['a', 'b', 'c'][i % 3], name: `p${i}`, labels: { app: `app${i % 20}` } },
      spec: { nodeName: node, containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIPs: [{ ip: `10.${Math.floor(i / 250)}.${i % 250}.${1 + (i % 3)}` }] },
    });
  }
  api.apply('NetworkPolicy', { metadata: { namespace: 'a', name: 'deny' }, spec: { podSelector: {} } });
  api.apply('NetworkPolicy', { metadata: { namespace: 'b', name: 'from-a' }, spec: { podSelector: { matchLabels: { app: 'app1' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'a' } } }] }] } });
}

async function status(port: number, path: string): Promise<number> {
  return fetch(`http://127.0.0.1:${port}${path}`).then(
    (r) => r.status,
    () => 0,
  );
}

async function failuresCounted(port: number): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('nftpol_watch_failures_total{'));
  return text.includes('nftpol_watch_failures_total') ? lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0) : null;
}

async function runSide(side: Side, fault: Fault): Promise<Measured> {
  const api = new ApiServerDouble();
  let agent: ResultPromise | null = null;
  try {
    await api.start();
    seed(api);
    let warnings = 0;
    let counting = false;
    agent = execa(
      process.execPath,
      [side.cli, 'agent', '--node-name', 'bench-node', '--kubeconfig', api.kubeconfig, '--table', side.table, '--listen', `127.0.0.1:${side.port}`, '--api-unreachable-grace', '30s'],
      { reject: false, buffer: false, stdout: 'pipe', stderr: 'ignore' },
    );
    agent.stdout!.on('data', (chunk: Buffer) => {
      if (counting) warnings += chunk.toString().split('\n').filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')).length;
    });
    const deadline = Date.now() + 30_000;
    while ((await status(side.port, '/readyz')) !== 200) {
      if (Date.now() > deadline) throw new Error(`${side.label}: not ready within 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1000)); // settled: every watch open
    const before = api.requests.length;
    const failuresBefore = await failuresCounted(side.port);
    counting = true;
    fault.start(api);
    await new Promise((r) => setTimeout(r, FAULT_SECONDS * 1000));
    const during = api.requests.slice(before);
    const ready = await status(side.port, '/readyz');
    const failuresAfter = await failuresCounted(side.port);
    return {
      lists: during.filter((r) => !r.includes('watch=true')).length,
      watches: during.filter((r) => r.includes('watch=true')).length,
      ready,
      failures: failuresAfter === null ? null : failuresAfter - (failuresBefore ?? 0),
      warnings,
    };
  } finally {
    if (agent) {
      agent.kill('SIGTERM');
      await agent;
    }
    await api.destroy();
  }
}

function perSecond(n: number): string {
  return (n / FAULT_SECONDS).toFixed(n / FAULT_SECONDS >= 10 ? 0 : 2);
}

async function main(): Promise<void> {
  await execa('ip', ['link', 'set', 'lo', 'up']);
  const dir = mkdtempSync(join(tmpdir(), 'nftpol-bench-baseline-'));
  try {
    process.stdout.write(`building the baseline (${BEFORE_REF}) ...\n`);
    const sides: Side[] = [
      { label: `before (${BEFORE_REF})`, cli: await buildBaseline(dir), table: 'nftpolbefore', port: 19801 },
      { label: 'after (this tree)', cli: join(ROOT, 'dist', 'src', 'cli', 'main.js'), table: 'nftpolafter', port: 19802 },
    ];
    process.stdout.write(`${PODS} pods, 3 namespaces, 2 policies; each fault for ${FAULT_SECONDS} s; both agents side by side, one API double each\n\n`);
    process.stdout.write('| fault | agent | requests/s | lists/s | watches/s | failures counted | warnings logged | /readyz at the end |\n|---|---|---|---|---|---|---|---|\n');
    for (const fault of FAULTS) {
      const results = await Promise.all(sides.map((side) => runSide(side, fault)));
      for (const [i, side] of sides.entries()) {
        const r = results[i]!;
        process.stdout.write(
          `| ${fault.name}: ${fault.what} | ${side.label} | ${perSecond(r.lists + r.watches)} | ${perSecond(r.lists)} | ${perSecond(r.watches)} | ${r.failures ?? 'no metric'} | ${r.warnings} | ${r.ready} |\n`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await inOwnNetworkNamespace({ FAULT_SECONDS: String(FAULT_SECONDS), BEFORE_REF });
await main();
