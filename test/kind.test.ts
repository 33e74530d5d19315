// make e2e-kind's pure parts, tested here because kind cannot run on these machines: the scenario's
// translation into cluster objects, and the probe script and its output's parsing.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenario, probeKey } from '../src/scenario/format.js';
import { parseProbeOutput, probeScript, rowsFor, targetsFrom } from '../e2e/kind/probe.js';
import { assignNodes, cidrMapping, endpointSlices, labelArgs, podAddresses, podObject, serviceObject, translatePolicy } from '../e2e/kind/translate.js';

const scenario = parseScenario(`
name: t
cluster: {nodes: 2, ipFamilies: [IPv4, IPv6]}
namespaces: [{name: x}]
pods:
  - {namespace: x, name: a, labels: {pod: a}, node: 0, ports: [{port: 80, protocol: TCP, name: http}, {port: 53, protocol: UDP}, {port: 9, protocol: SCTP}]}
  - {namespace: x, name: b, labels: {pod: b}, node: 1, ports: []}
  - {namespace: x, name: h, node: 1, hostNetwork: true, ports: [{port: 80, protocol: TCP}]}
steps:
  - probes: [{port: 80, protocol: TCP}, {port: 80, protocol: TCP, via: service, family: IPv6}]
`);
const [a, b, h] = scenario.pods as [(typeof scenario.pods)[0], (typeof scenario.pods)[0], (typeof scenario.pods)[0]];

const kindNodes = [
  { name: 'nftpol-e2e-control-plane', controlPlane: true, podCidrs: ['10.244.0.0/24', 'fd00:10:244::/64'] },
  { name: 'nftpol-e2e-worker2', controlPlane: false, podCidrs: ['10.244.2.0/24', 'fd00:10:244:2::/64'] },
  { name: 'nftpol-e2e-worker', controlPlane: false, podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] },
];
const nodes = assignNodes(kindNodes, 2);

describe('translation of a scenario into cluster objects', () => {
  test('scenario nodes are the workers in name order, then the control plane; too few nodes is an error', () => {
    expect(nodes.names).toEqual(['nftpol-e2e-worker', 'nftpol-e2e-worker2']);
    expect(assignNodes(kindNodes, 3).names[2]).toBe('nftpol-e2e-control-plane');
    expect(() => assignNodes(kindNodes, 4)).toThrow(/needs 4 nodes; the cluster has 3/);
  });

  test('a pod runs one agnhost container per port, as upstream, on its node, with its labels only', () => {
    const pod = podObject(a, nodes, 'agnhost:test');
    expect(pod.metadata).toMatchObject({ namespace: 'x', name: 'a', labels: { pod: 'a' } });
    expect(pod.spec!.nodeName).toBe('nftpol-e2e-worker');
    expect(pod.spec!.containers.map((c) => [c.name, c.command, c.ports])).toEqual([
      ['cont-80-tcp', ['/agnhost', 'serve-hostname', '--tcp', '--http=false', '--port', '80'], [{ containerPort: 80, protocol: 'TCP', name: 'http' }]],
      ['cont-53-udp', ['/agnhost', 'serve-hostname', '--udp', '--http=false', '--port', '53'], [{ containerPort: 53, protocol: 'UDP' }]],
      ['cont-9-sctp', ['/agnhost', 'porter'], [{ containerPort: 9, protocol: 'SCTP' }]],
    ]);
    expect(pod.spec!.containers[2]!.env).toEqual([{ name: 'SERVE_SCTP_PORT_9', value: 'foo' }]);
  });

  test('a pod that serves nothing still runs agnhost (it probes the others); hostNetwork is kept', () => {
    expect(podObject(b, nodes).spec!.containers.map((c) => c.command)).toEqual([['/agnhost', 'pause']]);
    expect(podObject(h, nodes).spec!.hostNetwork).toBe(true);
  });

  test('each pod has a selector-less dual-stack Service, and EndpointSlices with its real addresses', () => {
    const svc = serviceObject(a, scenario);
    expect(svc.spec!.selector).toBeUndefined();
    expect(svc.spec).toMatchObject({ ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' });
    expect(svc.spec!.ports!.map((p) => `${p.name} ${p.port} ${p.protocol}`)).toEqual(['p-80-tcp 80 TCP', 'p-53-udp 53 UDP', 'p-9-sctp 9 SCTP']);
    const slices = endpointSlices(a, ['10.244.1.7', 'fd00:10:244:1::7']);
    expect(slices.map((s) => [s.metadata.name, s.addressType, s.endpoints[0]!.addresses, s.metadata.labels['kubernetes.io/service-name']])).toEqual([
      ['svc-a-v4', 'IPv4', ['10.244.1.7'], 'svc-a'],
      ['svc-a-v6', 'IPv6', ['fd00:10:244:1::7'], 'svc-a'],
    ]);
  });

  test('ipBlocks naming scenario pods or node pod CIDRs are rewritten to the real ones; others stay', () => {
    const real = new Map([
      ['x/a', ['10.244.1.7', 'fd00:10:244:1::7']],
      ['x/b', ['10.244.2.9', 'fd00:10:244:2::9']],
    ]);
    const mapping = cidrMapping(scenario, real, nodes);
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { namespace: 'x', name: 'p' },
      spec: {
        podSelector: {},
        ingress: [{ from: [{ ipBlock: { cidr: '10.244.1.0/24', except: [`${b.ips[0]}/32`] } }] }],
        egress: [{ to: [{ ipBlock: { cidr: `${a.ips[1]}/128` } }, { ipBlock: { cidr: '192.0.2.0/24' } }, { ipBlock: { cidr: '10.244.7.0/24' } }] }],
      },
    };
    const { policy: out, unmapped } = translatePolicy(policy, mapping);
    const spec = out.spec as typeof policy.spec;
    // Scenario node 1 is worker2 here, whose pod CIDR is 10.244.2.0/24.
    expect(spec.ingress[0]!.from[0]!.ipBlock).toEqual({ cidr: '10.244.2.0/24', except: ['10.244.2.9/32'] });
    expect(spec.egress[0]!.to.map((p) => p.ipBlock.cidr)).toEqual(['fd00:10:244:1::7/128', '192.0.2.0/24', '10.244.7.0/24']);
    expect(unmapped).toEqual(['10.244.7.0/24']);
    expect(policy.spec.ingress[0]!.from[0]!.ipBlock.cidr).toBe('10.244.1.0/24'); // the input is not changed
  });

  test('label changes become kubectl label arguments that set, change and remove', () => {
    expect(labelArgs({ a: '1', b: '2', c: '3' }, { a: '1', b: '9', d: '4' })).toEqual(['b=9', 'd=4', 'c-']);
    expect(labelArgs({ 'kubernetes.io/metadata.name': 'x', t: 'a' }, {}, ['kubernetes.io/metadata.name'])).toEqual(['t-']);
  });

  test('pod addresses come from kubectl get pods -o json, for the scenario pods only', () => {
    const list = {
      items: [
        { metadata: { namespace: 'x', name: 'a' }, status: { podIPs: [{ ip: '10.244.1.7' }, { ip: 'fd00:10:244:1::7' }] } },
        { metadata: { namespace: 'kube-system', name: 'coredns' }, status: { podIPs: [{ ip: '10.244.0.2' }] } },
      ],
    };
    expect([...podAddresses(list, scenario)]).toEqual([['x/a', ['10.244.1.7', 'fd00:10:244:1::7']]]);
  });
});

describe('probing by kubectl exec', () => {
  const podIps = new Map([
    ['x/a', ['10.244.1.7', 'fd00:10:244:1::7']],
    ['x/b', ['10.244.2.9', 'fd00:10:244:2::9']],
    ['x/h', ['172.18.0.3', 'fc00:f853:ccd:e793::3']],
  ]);
  const serviceIps = new Map([
    ['x/a', ['10.96.0.20', 'fd00:10:96::20']],
    ['x/h', ['10.96.0.21', 'fd00:10:96::21']],
  ]);
  const targets = targetsFrom(1, scenario, scenario.steps[0]!.probes, probeKey, podIps, serviceIps);

  test('targets: every other pod per probe, in the probe family; no Service, no target', () => {
    expect(targets.map((t) => `${t.key} ${t.to} ${t.address}:${t.port}`)).toEqual([
      '80/TCP 0 10.244.1.7:80',
      '80/TCP 2 172.18.0.3:80',
      '80/TCP/service/IPv6 0 fd00:10:96::20:80',
      '80/TCP/service/IPv6 2 fd00:10:96::21:80',
    ]);
  });

  test('the script runs agnhost connect for each target in the background and reports index and status', () => {
    const script = probeScript(targets, 2);
    expect(script.split('\n')[0]).toBe('( /agnhost connect 10.244.1.7:80 --timeout=2s --protocol=tcp >/dev/null 2>&1; echo "0 $?" ) &');
    expect(script).toContain('/agnhost connect [fd00:10:96::20]:80 --timeout=2s --protocol=tcp');
    expect(script.trimEnd().endsWith('wait')).toBe(true);
  });

  test('output lines in any order become results; missing lines and noise count as blocked', () => {
    const connected = parseProbeOutput('3 0\nwarning: something\n0 0\n1 1\n', targets.length + 1);
    expect(connected).toEqual([true, false, false, true, false]);
    const rows = rowsFor(1, 3, ['80/TCP', '80/TCP/service/IPv6'], targets, connected);
    expect(rows).toEqual({ '80/TCP': '.-X', '80/TCP/service/IPv6': 'X-.' });
  });

  test('the script is valid POSIX shell that reports every index (run with a stand-in agnhost)', async () => {
    const { execa } = await import('execa');
    const { mkdtempSync, writeFileSync, chmodSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'nftpol-agnhost-'));
    // A stand-in that "connects" only to addresses containing ":80" on 10.244.
    writeFileSync(join(dir, 'agnhost'), '#!/bin/sh\ncase "$2" in 10.244.*) exit 0;; *) exit 1;; esac\n');
    chmodSync(join(dir, 'agnhost'), 0o755);
    const script = probeScript(targets).replaceAll('/agnhost ', `${join(dir, 'agnhost')} `);
    const { stdout } = await execa('sh', ['-c', script]);
    expect(parseProbeOutput(stdout, targets.length)).toEqual([true, false, false, false]);
  });
});

test('the control scenario of make e2e-kind parses and has a default-deny step', () => {
  const control = parseScenario(readFileSync(fileURLToPath(new URL('../e2e/kind/control.yaml', import.meta.url)), 'utf8'));
  expect(control.steps[0]!.apply[0]).toMatchObject({ kind: 'NetworkPolicy', spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } });
});
