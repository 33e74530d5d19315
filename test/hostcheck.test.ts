// The check for bridged pod traffic that bypasses nftpol (minikube --cni=bridge without br_netfilter):
// what it concludes from the node's facts, how it reads them, and what the agent does with it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent/agent.js';
import { bridgeBypass, readBridgeFacts, type BridgeFacts } from '../src/agent/hostcheck.js';
import { memoryLogger } from '../src/agent/log.js';
import type { ListerWatcher } from '../src/watch/reflector.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';

describe('bridgeBypass', () => {
  const bridged = { bridgesWithPorts: ['bridge'] };

  test('no bridge with ports (routed CNIs such as kindnet): nothing to warn about', () => {
    expect(bridgeBypass({ bridgesWithPorts: [], callIptables: null, callIp6tables: null })).toBeNull();
  });

  test('br_netfilter on for both families: bridged packets pass the IP hooks', () => {
    expect(bridgeBypass({ ...bridged, callIptables: '1', callIp6tables: '1' })).toBeNull();
  });

  test('br_netfilter not loaded: says to load it and set both settings', () => {
    expect(bridgeBypass({ ...bridged, callIptables: null, callIp6tables: null })).toMatch(
      /bridge bridge .* bypasses nftpol's rules .*modprobe br_netfilter, then sysctl -w net\.bridge\.bridge-nf-call-iptables=1 net\.bridge\.bridge-nf-call-ip6tables=1$/,
    );
  });

  test('loaded but one family off: names only that setting', () => {
    const warning = bridgeBypass({ ...bridged, callIptables: '1', callIp6tables: '0' });
    expect(warning).toMatch(/sysctl -w net\.bridge\.bridge-nf-call-ip6tables=1$/);
    expect(warning).not.toContain('modprobe');
  });
});

describe('readBridgeFacts', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'nftpol-hostcheck-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const iface = (name: string, bridgePorts?: string[]) => {
    mkdirSync(join(root, 'sys/class/net', name), { recursive: true });
    if (bridgePorts) {
      mkdirSync(join(root, 'sys/class/net', name, 'brif'), { recursive: true });
      for (const port of bridgePorts) writeFileSync(join(root, 'sys/class/net', name, 'brif', port), '');
    }
  };

  test('finds bridges with ports and reads both settings', async () => {
    iface('eth0');
    iface('docker0', []);
    iface('bridge', ['veth1', 'veth2']);
    mkdirSync(join(root, 'proc/sys/net/bridge'), { recursive: true });
    writeFileSync(join(root, 'proc/sys/net/bridge/bridge-nf-call-iptables'), '0\n');
    writeFileSync(join(root, 'proc/sys/net/bridge/bridge-nf-call-ip6tables'), '1\n');
    expect(await readBridgeFacts(root)).toEqual<BridgeFacts>({ bridgesWithPorts: ['bridge'], callIptables: '0', callIp6tables: '1' });
  });

  test('without br_netfilter the settings do not exist', async () => {
    iface('cni0', ['veth1']);
    expect(await readBridgeFacts(root)).toEqual<BridgeFacts>({ bridgesWithPorts: ['cni0'], callIptables: null, callIp6tables: null });
  });
});

test('the agent warns once per change and reports it as a metric', async () => {
  // Sources that never answer: this test is about the host check only.
  const idle: ListerWatcher = { list: () => new Promise(() => undefined), watch: async () => ({ abort: () => undefined }) };
  let facts: BridgeFacts = { bridgesWithPorts: ['bridge'], callIptables: null, callIp6tables: null };
  const log = memoryLogger();
  const agent = new Agent(
    testAgentConfig({ nodeName: 'n', apiUnreachableGraceMs: 1000 }),
    { sources: { Pod: idle, Namespace: idle, NetworkPolicy: idle }, runner: new RecordingRunner(), log, bridgeFacts: async () => facts },
  );
  const gauge = async () => (await agent.metrics.registry.metrics()).split('\n').find((l) => l.startsWith('nftpol_bridged_traffic_unfiltered '));
  await agent.start();
  try {
    expect(await gauge()).toBe('nftpol_bridged_traffic_unfiltered 1');
    await agent.checkBridges();
    expect(log.entries.filter((e) => e.level === 'warn' && e.msg.includes('bypasses nftpol'))).toHaveLength(1);
    facts = { ...facts, callIptables: '1', callIp6tables: '1' };
    await agent.checkBridges();
    expect(await gauge()).toBe('nftpol_bridged_traffic_unfiltered 0');
    expect(log.entries.map((e) => e.msg)).toContain('bridged pod traffic now passes nftpol (br_netfilter on)');
  } finally {
    await agent.stop();
  }
});
