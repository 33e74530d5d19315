// make bench-features: what --strict-mode and --deny-log cost, beside the agent's default (both off) in the
// same run, with real nft in a sandbox node: new TCP connections per second between two pods (every
// packet of a short connection crosses the base chains), the time of one incremental sync, and strict
// mode's pass over the conntrack table after a sync, by table size. Rounds interleave the settings so
// that the machine's load falls on all of them alike.
import { execa } from 'execa';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxCluster } from '../e2e/sandbox/cluster.js';
import { conntrackCommand, type ConntrackEntry } from '../src/agent/conntrack.js';
import { staleConnections } from '../src/agent/strict.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { normalizePod } from '../src/model/normalize.js';
import type { NetworkPolicy } from '../src/model/types.js';
import { Dataplane, type DataplaneOptions } from '../src/nft/dataplane.js';
import { nftCommand } from '../src/nft/executor.js';
import type { ScenarioPod } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';
import { inOwnNetworkNamespace } from './own-netns.js';
import { median } from './synthetic.js';

const CONNRATE = join(dirname(fileURLToPath(import.meta.url)), 'connrate.js');
const ROUNDS = 5;
const SYNCS = 15;

const SETTINGS: Record<string, Partial<DataplaneOptions>> = {
  'off (default)': {},
  '--strict-mode': { strictMode: true },
  '--deny-log': { denyLog: { group: 9745, ratePerSecond: 20 } },
};

const pod = (name: string, ip: string): ScenarioPod => ({ namespace: 'bench', name, key: `bench/${name}`, labels: { app: name }, node: 0, ips: [ip], hostNetwork: false, ports: [{ port: 80, protocol: 'TCP' }] });
const client = pod('client', '10.244.0.10');
const server = pod('server', '10.244.0.11');
const sel = (labels: Record<string, string>) => ({ matchLabels: labels, matchExpressions: [] });
const serverPolicy = (port: number): NetworkPolicy => ({
  namespace: 'bench',
  name: 'server-from-client',
  podSelector: sel({ app: 'server' }),
  ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: sel({ app: 'client' }) }], ports: [{ kind: 'number', protocol: 'TCP', port: 80, endPort: 80 }, { kind: 'number', protocol: 'TCP', port, endPort: port }] }],
  egress: null,
});

function engine(): PolicyEngine {
  const e = new PolicyEngine('node-0');
  for (const p of [client, server]) e.upsertPod(normalizePod(podObject(p)));
  e.upsertPolicy(serverPolicy(81));
  return e;
}

/** Empties the sandbox node's conntrack table (the last run's closed connections would weigh on the next). */
async function flushConntrack(cluster: SandboxCluster): Promise<void> {
  await execa('ip', ['netns', 'exec', cluster.node(0), 'conntrack', '-F'], { reject: false });
}

async function connectionRate(cluster: SandboxCluster): Promise<number> {
  await flushConntrack(cluster);
  const out = await execa('ip', ['netns', 'exec', cluster.podNamespace(client), process.execPath, CONNRATE, server.ips[0]!, '80', '3', '4']);
  return (JSON.parse(out.stdout) as { perSecond: number }).perSecond;
}

/** Median time of one incremental sync (a policy's second port changes) with these options. */
async function syncMs(cluster: SandboxCluster, options: Partial<DataplaneOptions>): Promise<number> {
  const e = engine();
  const dataplane = new Dataplane(e, nftCommand({ netns: cluster.node(0) }), { table: 'nftpol', denyAction: 'drop', ...options });
  await dataplane.sync(e.takeChanges());
  const times: number[] = [];
  for (let i = 0; i < SYNCS; i++) {
    e.upsertPolicy(serverPolicy(1000 + i));
    times.push((await dataplane.sync(e.takeChanges())).durationMs);
  }
  return median(times);
}

/** Adds `n` tracked TCP connections between two addresses that are no pod (they stay allowed). */
async function fillConntrack(cluster: SandboxCluster, n: number, from: number): Promise<void> {
  const queue = Array.from({ length: n }, (_, i) => from + i);
  const worker = async () => {
    for (let port = queue.shift(); port !== undefined; port = queue.shift()) {
      await execa('ip', ['netns', 'exec', cluster.node(0), 'conntrack', '-I', '-p', 'tcp', '-s', '192.0.2.1', '-d', '192.0.2.2', '--sport', String(port), '--dport', '443', '--state', 'ESTABLISHED', '-u', 'SEEN_REPLY', '-t', '600'], { reject: false });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

async function main(): Promise<void> {
  const cluster = await SandboxCluster.create({ nodes: 1, families: ['IPv4'], pods: [client, server] });
  try {
    console.log('nftpol bench-features: the cost of --strict-mode and --deny-log beside both off, same run');
    const rates: Record<string, number[]> = {};
    const syncs: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, options] of Object.entries(SETTINGS)) {
        (syncs[name] ??= []).push(await syncMs(cluster, options)); // leaves this setting's table in place
        (rates[name] ??= []).push(await connectionRate(cluster));
      }
    }
    const base = { rate: median(rates['off (default)']!), sync: median(syncs['off (default)']!) };
    console.log(`  ${ROUNDS} interleaved rounds; median, [range]; ratio to off`);
    for (const name of Object.keys(SETTINGS)) {
      const r = rates[name]!;
      const s = syncs[name]!;
      console.log(
        `  ${name.padEnd(14)} new TCP connections/s ${median(r)} [${Math.min(...r)}-${Math.max(...r)}] = ${((100 * median(r)) / base.rate).toFixed(1)} %;` +
          `  incremental sync ${median(s).toFixed(1)} ms [${Math.min(...s).toFixed(1)}-${Math.max(...s).toFixed(1)}] = ${((100 * median(s)) / base.sync).toFixed(1)} %`,
      );
    }
    // Strict mode's pass after each sync that changed the table: list every tracked connection, judge it.
    const conntrack = conntrackCommand('conntrack', ['ip', 'netns', 'exec', cluster.node(0)]);
    const e = engine();
    await flushConntrack(cluster);
    let filled = 0;
    for (const size of [1_000, 5_000]) {
      await fillConntrack(cluster, size - filled, 10_000 + filled);
      filled = size;
      const times: number[] = [];
      let entries: ConntrackEntry[] = [];
      for (let i = 0; i < 5; i++) {
        const start = process.hrtime.bigint();
        entries = await conntrack.list();
        staleConnections(e, entries, new Set());
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      console.log(`  strict mode pass over ${entries.length} tracked connections: median ${median(times).toFixed(1)} ms [${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)}] (list and judge; nothing to end)`);
    }
  } finally {
    await cluster.destroy();
  }
}

await inOwnNetworkNamespace();
await main();
