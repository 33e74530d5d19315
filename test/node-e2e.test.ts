// make e2e-node's and make e2e-kind's pure parts: the local nodes' configuration files (e2e/node/config.ts),
// the kind configuration with the same ptp/host-local pod network (e2e/kind/config.ts, since kind cannot
// run on these machines), and the upstream netpol suite's JUnit report read back per test (upstream.ts).
import { parse } from 'yaml';
import { cniConfig, containerdConfig, installKustomization, kubeletConfig, nodeArchives, type NodeLayout } from '../e2e/node/config.js';
import { kindConfig, parseKindCni, ptpRoutes } from '../e2e/kind/config.js';
import { formatUpstream, parseJunit, SCTP_REASON, summarize } from '../e2e/kind/upstream.js';
import { translatePolicy } from '../e2e/kind/translate.js';
import { usesSctp } from '../e2e/kind/run.js';
import { parseScenario } from '../src/scenario/format.js';

const node: NodeLayout = { index: 1, name: 'nftpol-node-42-1', dir: '/tmp/n1', cgroupRoot: '/nftpol-node-42-1' };

describe('a local node configuration', () => {
  test('containerd keeps every path, socket and pod netns under the node, uses cgroupfs and clamps oom_score_adj', () => {
    const toml = containerdConfig(node);
    expect(toml).toContain('root = "/tmp/n1/containerd/root"');
    expect(toml).toContain('state = "/tmp/n1/containerd/state"');
    expect(toml).toContain('address = "/tmp/n1/containerd.sock"');
    expect(toml).toContain('netns_mounts_under_state_dir = true');
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('SystemdCgroup = false');
    expect(toml).toContain('Root = "/tmp/n1/runc"');
    expect(toml).toContain('conf_dir = "/tmp/n1/cni"');
    expect(toml).toContain('sandbox_image = "registry.k8s.io/pause:3.10.2"');
  });

  test('the kubelet runs cgroupfs under the node cgroup root, allows cgroup v1, and serves on the node address', () => {
    const config = JSON.parse(kubeletConfig(node)) as Record<string, unknown>;
    expect(config).toMatchObject({ failCgroupV1: false, cgroupDriver: 'cgroupfs', cgroupRoot: '/nftpol-node-42-1', address: '172.18.0.3', containerRuntimeEndpoint: 'unix:///tmp/n1/containerd.sock', podLogsDir: '/tmp/n1/pod-logs' });
  });

  test('the CNI network is ptp with host-local ranges, one per family, with a default route each', () => {
    const v4 = JSON.parse(cniConfig('10.244.1.0/24')) as { plugins: { type: string; ipam?: { ranges: unknown; routes: unknown } }[] };
    expect(v4.plugins.map((p) => p.type)).toEqual(['ptp', 'portmap']);
    expect(v4.plugins[0]!.ipam).toEqual({ type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] });
    const dual = JSON.parse(cniConfig(['10.244.1.0/24', 'fd00:10:244:1::/64'])) as typeof v4;
    expect(dual.plugins[0]!.ipam!.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
  });

  test('the install kustomization references daemonset/ and sets only the image', () => {
    const k = parse(installKustomization('../../repo/daemonset', 'ghcr.io/nftpol/nftpol:0.1.0', 'localhost:5000/nftpol:dev')) as Record<string, unknown>;
    expect(k).toEqual({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../../repo/daemonset'],
      images: [{ name: 'ghcr.io/nftpol/nftpol', newName: 'localhost:5000/nftpol', newTag: 'dev' }],
    });
  });

  test('a node imports the pause, agnhost and nftpol archives of the image cache, not the base image', () => {
    expect(nodeArchives(['README', 'node-24-bookworm-slim.tar', 'nftpol-0.1.0.tar', 'agnhost-2.66.1.tar', 'pause-3.10.2.tar', 'pause-3.10.2.tar.info'])).toEqual(['agnhost-2.66.1.tar', 'nftpol-0.1.0.tar', 'pause-3.10.2.tar']);
  });
});

describe('the kind configuration', () => {
  test('ptp turns the default CNI off; kindnet (the default, as before) keeps it', () => {
    expect(parseKindCni(undefined)).toBe('kindnet');
    expect(parseKindCni('ptp')).toBe('ptp');
    expect(() => parseKindCni('calico')).toThrow('KIND_CNI=calico');
    const ptp = parse(kindConfig('dual', 'ptp')) as { networking: Record<string, unknown>; nodes: unknown[] };
    expect(ptp.networking).toEqual({ ipFamily: 'dual', disableDefaultCNI: true });
    expect(ptp.nodes).toHaveLength(3);
    expect((parse(kindConfig('ipv4', 'kindnet')) as { networking: Record<string, unknown> }).networking).toEqual({ ipFamily: 'ipv4' });
  });

  test('each node routes every other node pod CIDR via that node address of the same family', () => {
    const nodes = [
      { name: 'cp', podCidrs: ['10.244.0.0/24', 'fd00:10:244::/64'], addresses: ['172.18.0.2', 'fc00:f853:ccd:e793::2'] },
      { name: 'w1', podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], addresses: ['172.18.0.3', 'fc00:f853:ccd:e793::3'] },
      { name: 'w2', podCidrs: ['10.244.2.0/24'], addresses: ['172.18.0.4'] },
    ];
    expect(ptpRoutes('w1', nodes)).toEqual(['route replace 10.244.0.0/24 via 172.18.0.2', '-6 route replace fd00:10:244::/64 via fc00:f853:ccd:e793::2', 'route replace 10.244.2.0/24 via 172.18.0.4']);
  });
});

describe('the upstream suite report', () => {
  const junit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="6" disabled="0" errors="0" failures="2" time="40">
  <testsuite name="Kubernetes e2e suite" package="/" tests="5">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="0.4"></testcase>
    <testcase name="[It] [sig-network] Netpol NetworkPolicy between server and client should support a &#39;default-deny-ingress&#39; policy [Feature:NetworkPolicy]" classname="Kubernetes e2e suite" status="passed" time="18.2"></testcase>
    <testcase name="[It] [sig-network] Netpol NetworkPolicy between server and client should support allow-all policy [Feature:NetworkPolicy]" classname="Kubernetes e2e suite" status="failed" time="21.7">
      <failure message="probes: 3 wrong results &amp; more&#xA;second line" type="failed">details</failure>
    </testcase>
    <testcase name="[It] [sig-network] Netpol NetworkPolicy between server and client should support a &#39;default-deny-all&#39; policy [Feature:NetworkPolicy]" classname="Kubernetes e2e suite" status="failed" time="70.1">
      <failure message="" type="failed">[FAILED] Had 6 wrong results in reachability matrix&#xA;In [It] at: test_helper.go:129&#xA;</failure>
      <system-err>log</system-err>
    </testcase>
    <testcase name="[It] [sig-network] Netpol [Feature:SCTPConnectivity] [LinuxOnly] NetworkPolicy between server and client using SCTP should enforce policy based on Ports [Feature:NetworkPolicy]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [sig-storage] CSI something" classname="Kubernetes e2e suite" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>`;

  test('each netpol test with its status, time and first message line; SCTP skips carry their reason', () => {
    const tests = parseJunit(junit, /\[sig-network\] Netpol/, (name) => (name.includes('SCTPConnectivity') ? SCTP_REASON : undefined));
    expect(tests).toEqual([
      { name: "[sig-network] Netpol NetworkPolicy between server and client should support a 'default-deny-ingress' policy [Feature:NetworkPolicy]", status: 'passed', seconds: 18.2 },
      { name: '[sig-network] Netpol NetworkPolicy between server and client should support allow-all policy [Feature:NetworkPolicy]', status: 'failed', seconds: 21.7, message: 'probes: 3 wrong results & more' },
      { name: "[sig-network] Netpol NetworkPolicy between server and client should support a 'default-deny-all' policy [Feature:NetworkPolicy]", status: 'failed', seconds: 70.1, message: '[FAILED] Had 6 wrong results in reachability matrix' },
      { name: '[sig-network] Netpol [Feature:SCTPConnectivity] [LinuxOnly] NetworkPolicy between server and client using SCTP should enforce policy based on Ports [Feature:NetworkPolicy]', status: 'skipped', seconds: 0, message: SCTP_REASON },
    ]);
    const result = summarize(tests, 1, 40.4);
    expect([result.passed.length, result.failed.length, result.skipped.length]).toEqual([1, 2, 1]);
    expect(formatUpstream(result).split('\n').pop()).toBe('upstream netpol: 4 tests, 1 passed, 2 failed, 1 skipped; 40 s wall (e2e.test exit 1)');
  });
});

describe('ipBlocks over sub-ranges of the scenario pod range', () => {
  const pods = [
    { scenario: ['10.244.0.10'], real: ['10.244.0.4'] },
    { scenario: ['10.244.1.10'], real: ['10.244.1.3'] },
    { scenario: ['10.244.1.200'], real: ['10.244.1.5'] },
  ];
  const policy = (peers: unknown[]) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: { podSelector: {}, egress: [{ to: peers }] } });
  const peersOf = (out: Record<string, unknown>) => (out.spec as { egress: { to: unknown[] }[] }).egress[0]!.to;

  test('an except sub-range becomes the real addresses of the scenario pods it holds', () => {
    const { policy: out, unmapped } = translatePolicy(policy([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.244.1.128/25'] } }]), new Map(), pods);
    expect(peersOf(out)).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.244.1.5/32'] } }]);
    expect(unmapped).toEqual([]);
  });

  test('a CIDR inside the pod range becomes one peer per pod it selects, after its excepts; none selected matches no pod', () => {
    const { policy: out } = translatePolicy(policy([{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.1.128/25'] } }, { ipBlock: { cidr: '10.244.3.0/25' } }]), new Map(), pods);
    expect(peersOf(out)).toEqual([{ ipBlock: { cidr: '10.244.0.4/32' } }, { ipBlock: { cidr: '10.244.1.3/32' } }, { ipBlock: { cidr: '192.0.2.1/32' } }]);
  });

  test('without the pods, such CIDRs stay as written and are reported', () => {
    const { policy: out, unmapped } = translatePolicy(policy([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.244.1.128/25'] } }]), new Map());
    expect(peersOf(out)).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.244.1.128/25'] } }]);
    expect(unmapped).toEqual(['10.244.1.128/25']);
  });
});

describe('scenarios on nodes without SCTP', () => {
  const scenario = (ports: string, probes: string) =>
    parseScenario(`
name: s
cluster: {nodes: 1}
namespaces: [{name: x}]
pods:
  - {namespace: x, name: a, labels: {pod: a}, node: 0, ports: [${ports}]}
  - {namespace: x, name: b, labels: {pod: b}, node: 0, ports: []}
steps:
  - probes: [${probes}]
`);

  test('a scenario that serves or probes SCTP is recognised; TCP and UDP only is not', () => {
    expect(usesSctp(scenario('{port: 80, protocol: TCP}, {port: 53, protocol: UDP}', '{port: 80, protocol: TCP}'))).toBe(false);
    expect(usesSctp(scenario('{port: 80, protocol: SCTP}', '{port: 80, protocol: TCP}'))).toBe(true);
    expect(usesSctp(scenario('{port: 80, protocol: TCP}', '{port: 80, protocol: SCTP}'))).toBe(true);
  });
});
