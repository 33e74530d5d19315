// Strict mode and the denied-connection log with the real agent, real nft, conntrack and NFLOG in a
// sandbox node: held TCP and UDP connections that a change denies end within a second, in both
// directions, while those it still allows go on; each denied connection attempt is one JSON line naming
// both pods and the isolating policy, and a flood is cut by the kernel's limit and counted.
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { SandboxCluster, type ProbeTarget } from '../e2e/sandbox/cluster.js';
import { Agent } from '../src/agent/agent.js';
import { conntrackCommand } from '../src/agent/conntrack.js';
import { memoryLogger } from '../src/agent/log.js';
import { listenNflog } from '../src/agent/nflog.js';
import { nftCommand } from '../src/nft/executor.js';
import type { ScenarioPod } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { testAgentConfig } from './support/agent-config.js';
import { poller } from './support/until.js';

jest.setTimeout(90_000);

// Dual-stack, with the Pods' IPv6 addresses written the long way: the packets and conntrack spell them
// short, and the log and strict mode must still find the pods.
const slot = (name: string, n: number, role: string, ports: ScenarioPod['ports'] = []): ScenarioPod => ({ namespace: 'x', name, key: `x/${name}`, labels: { role }, node: 0, ips: [`10.244.0.${n}`, `fd00:10:244:0:0:0:0:${n}`], hostNetwork: false, ports });
const server = slot('server', 10, 'server', [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }]);
const client = slot('client', 11, 'client');
const keeper = slot('keeper', 12, 'keeper');
const tcp: ProbeTarget = { ip: server.ips[0]!, port: 80, protocol: 'TCP' };
const udp: ProbeTarget = { ip: server.ips[0]!, port: 53, protocol: 'UDP' };
const tcp6: ProbeTarget = { ip: server.ips[1]!, port: 80, protocol: 'TCP' };
const RATE = 5;

const serverFrom = (...roles: string[]) => ({
  metadata: { namespace: 'x', name: 'server-from' },
  spec: { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: roles }] } }] }] },
});

const until = poller({ timeoutMs: 10_000, pollMs: 10 });

let api: ApiServerDouble;
let cluster: SandboxCluster;
let agent: Agent;
const log = memoryLogger();
const denied = () => log.entries.filter((e) => e.msg === 'denied connection');

beforeAll(async () => {
  api = new ApiServerDouble();
  await api.start();
  cluster = await SandboxCluster.create({ nodes: 1, families: ['IPv4', 'IPv6'], pods: [server, client, keeper] });
  api.apply('Namespace', { metadata: { name: 'x' } });
  for (const p of [server, client, keeper]) api.apply('Pod', podObject(p) as never);
  const config = testAgentConfig({
    counterReadIntervalMs: 100,
    strictMode: true,
    denyLog: { group: 9745, ratePerSecond: RATE },
  });
  const inNode = ['ip', 'netns', 'exec', cluster.node(0)];
  agent = new Agent(config, {
    sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)),
    runner: nftCommand({ netns: cluster.node(0) }),
    log,
    conntrack: conntrackCommand('conntrack', inNode),
    nflog: (group, snaplen, handlers) => listenNflog(group, snaplen, handlers, [...inNode, 'python3']),
  });
  await agent.start();
  await until('agent ready', () => agent.ready().ready);
});

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await cluster?.destroy();
  await api?.destroy();
});

test('a denied connection attempt is one JSON line, retransmissions included; a flood is limited and counted', async () => {
  api.apply('NetworkPolicy', serverFrom('keeper'));
  await until('policy enforced', async () => !(await cluster.probe(client, tcp, 200, 'socket')));
  await new Promise((resolve) => setTimeout(resolve, 1100)); // a full bucket again
  const before = denied().length;
  // 2.5 s: the SYN is retransmitted after 1 s, and both reach the log group.
  expect(await cluster.probe(client, tcp, 2500, 'socket')).toBe(false);
  expect(await cluster.probe(client, udp, 300)).toBe(false);
  expect(await cluster.probe(client, tcp6, 300, 'socket')).toBe(false);
  await until('log lines', () => denied().length >= before + 3, 3000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const lines = denied().slice(before);
  expect(lines.map(({ ts: _t, level: _l, ...rest }) => rest)).toEqual([
    { msg: 'denied connection', direction: 'ingress', src: 'x/client', dst: 'x/server', family: 'IPv4', protocol: 'TCP', port: 80, policies: ['x/server-from'] },
    { msg: 'denied connection', direction: 'ingress', src: 'x/client', dst: 'x/server', family: 'IPv4', protocol: 'UDP', port: 53, policies: ['x/server-from'] },
    { msg: 'denied connection', direction: 'ingress', src: 'x/client', dst: 'x/server', family: 'IPv6', protocol: 'TCP', port: 80, policies: ['x/server-from'] },
  ]);
  expect(await agent.metrics.registry.getSingleMetricAsString('nftpol_denied_connections_logged_total')).toMatch(/\{namespace="x",direction="ingress"\} \d+/);

  // A flood: 40 attempts as fast as they go. The kernel logs at most the burst plus RATE per second.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  // The kernel's own count of what reached the deny: a 20 ms probe on a loaded machine can end before
  // its SYN is sent, so "40 attempts" is at most 40 packets.
  const deniedPackets = async () => {
    await new Promise((resolve) => setTimeout(resolve, 200)); // the counter read interval, twice over
    const text = await agent.metrics.registry.getSingleMetricAsString('nftpol_denied_packets_total');
    return Number(/namespace="x",pod="server",direction="ingress"\} (\d+)/.exec(text)?.[1] ?? NaN);
  };
  const packetsBefore = await deniedPackets();
  const floodStart = Date.now();
  const fromFlood = denied().length;
  for (let i = 0; i < 40; i++) await cluster.probe(client, tcp, 20, 'socket');
  const seconds = (Date.now() - floodStart) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const logged = denied().length - fromFlood;
  expect(logged).toBeGreaterThan(0);
  expect(logged).toBeLessThanOrEqual(RATE + Math.ceil(RATE * seconds) + 1);
  await new Promise((resolve) => setTimeout(resolve, 200)); // the counter read interval
  const suppressed = await agent.metrics.registry.getSingleMetricAsString('nftpol_denied_connections_suppressed_total');
  const count = Number(/direction="ingress"\} (\d+)/.exec(suppressed)?.[1]);
  const attempts = (await deniedPackets()) - packetsBefore;
  expect(attempts).toBeGreaterThan(RATE); // the flood did exceed the limit
  // Every attempt that reached the deny is either logged or counted as suppressed.
  expect(count).toBeGreaterThanOrEqual(attempts - logged);
});

test('strict mode: held TCP and UDP connections a change denies end within 1 s, in both directions; allowed ones go on', async () => {
  api.apply('NetworkPolicy', serverFrom('client', 'keeper'));
  await until('clients allowed', () => cluster.probe(client, tcp, 300, 'socket'));
  const held: { from: ScenarioPod; protocol: string; id: number }[] = [];
  for (const from of [client, keeper]) {
    for (const target of [tcp, udp, tcp6]) {
      const id = await cluster.hold(from, target);
      expect(id).not.toBeNull();
      held.push({ from, protocol: target.protocol, id: id! });
    }
  }
  const alive = async (h: (typeof held)[number]) => cluster.ping(h.from, h.id, 150);
  for (const h of held) expect(await alive(h)).toBe(true);
  // Every flow is pinged all the while: echoes in flight when the change lands are what would let a
  // flow survive the deletion of its conntrack entry (picked up again in the reverse direction).
  let pinging = true;
  const pingers = held.map(async (h) => {
    while (pinging) {
      await alive(h);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  });

  // Ingress: the server admits the keeper only. The client's connections end; the keeper's go on.
  const written = Date.now();
  api.apply('NetworkPolicy', serverFrom('keeper'));
  const ofClient = held.filter((h) => h.from === client);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  pinging = false;
  await Promise.all(pingers);
  for (const h of ofClient) expect(await alive(h)).toBe(false);
  expect(Date.now() - written).toBeLessThan(2000);
  for (const h of held.filter((h) => h.from === keeper)) expect(await alive(h)).toBe(true);

  // Egress: the keeper may now send nothing. Its connections end too.
  api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'keeper-no-egress' }, spec: { podSelector: { matchLabels: { role: 'keeper' } }, policyTypes: ['Egress'] } });
  const ofKeeper = held.filter((h) => h.from === keeper);
  await until('the keeper\'s held connections to end', async () => (await Promise.all(ofKeeper.map(alive))).every((ok) => !ok), 1500);
  expect(await agent.metrics.registry.getSingleMetricAsString('nftpol_strict_connections_ended_total')).toMatch(/direction="egress"\} [1-9]/);

  // Undone: both may talk again. A UDP flow that kept sending all along flows again (its packets kept
  // its ended entry alive; the agent deletes it); the TCP ones were reset and stay closed.
  const udpFlows = held.filter((h) => h.protocol === 'UDP');
  let sending = true;
  const senders = udpFlows.map(async (h) => {
    while (sending) {
      await alive(h);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  });
  api.apply('NetworkPolicy', serverFrom('client', 'keeper'));
  api.delete('NetworkPolicy', 'x', 'keeper-no-egress');
  await until('the UDP flows to flow again', async () => (await Promise.all(udpFlows.map(alive))).every(Boolean), 1500);
  sending = false;
  await Promise.all(senders);
});
