// Every NetworkPolicy semantic the engine implements, each asserted on verdicts.
import { decide } from '../src/engine/decide.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { InvalidObjectError, normalizePolicy } from '../src/model/normalize.js';
import { allowed, clusterOf, namespace, pod, policy } from './support/cluster.js';

const base = [
  namespace('x', { team: 'a' }),
  namespace('y', { team: 'b' }),
  pod('x/a', { app: 'a' }, '10.244.0.10'),
  pod('x/b', { app: 'b' }, '10.244.0.11'),
  pod('y/a', { app: 'a' }, '10.244.1.10'),
  pod('y/b', { app: 'b' }, '10.244.1.11'),
];

describe('isolation and defaults', () => {
  test('no policy: everything is allowed', () => {
    const c = clusterOf(...base);
    expect(allowed(c, 'x/a', 'y/b')).toBe(true);
  });

  test('policyTypes defaults to Ingress only when there are no egress rules', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {} }));
    expect(allowed(c, 'y/a', 'x/a')).toBe(false);
    expect(allowed(c, 'x/a', 'y/a')).toBe(true);
  });

  test('policyTypes defaults to Ingress and Egress when egress rules exist', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, egress: [{ to: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }));
    expect(allowed(c, 'y/a', 'x/a')).toBe(false); // ingress isolated with no rules
    expect(allowed(c, 'x/a', 'x/b')).toBe(false); // egress allowed, but x/b's ingress is isolated too
    expect(allowed(c, 'x/a', 'y/a')).toBe(false); // egress to y/a: no rule
  });

  test('ingress: [{}] allows everything while ingress: [] denies everything', () => {
    const open = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{}] }));
    expect(allowed(open, 'y/b', 'x/a', 9999, 'UDP')).toBe(true);
    const closed = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [] }));
    expect(allowed(closed, 'y/b', 'x/a')).toBe(false);
  });

  test('a policy only isolates pods of its own namespace', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, policyTypes: ['Ingress'] }));
    expect(allowed(c, 'x/a', 'y/a')).toBe(true);
    expect(allowed(c, 'y/a', 'x/a')).toBe(false);
  });

  test('egress at the source and ingress at the destination must both allow', () => {
    const c = clusterOf(
      ...base,
      policy('y/deny-egress', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'] }),
      policy('x/allow-all-in', { podSelector: {}, ingress: [{}] }),
    );
    expect(allowed(c, 'y/a', 'x/a')).toBe(false);
    expect(allowed(c, 'y/b', 'x/a')).toBe(true);
    // Egress isolation does not stop traffic towards the pod.
    expect(allowed(c, 'x/a', 'y/a')).toBe(true);
  });

  test('stacked policies are a union', () => {
    const c = clusterOf(
      ...base,
      policy('x/one', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port: 80 }] }] }),
      policy('x/two', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 81 }] }] }),
    );
    expect(allowed(c, 'x/b', 'x/a', 80)).toBe(true);
    expect(allowed(c, 'x/b', 'x/a', 81)).toBe(false);
    expect(allowed(c, 'y/a', 'x/a', 81)).toBe(true);
    expect(allowed(c, 'y/a', 'x/a', 80)).toBe(false);
  });
});

describe('peers', () => {
  test('podSelector alone means the policy namespace; namespaceSelector {} means all namespaces', () => {
    const own = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }));
    expect(allowed(own, 'x/b', 'x/a')).toBe(true);
    expect(allowed(own, 'y/b', 'x/a')).toBe(false);
    const all = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'b' } } }] }] }));
    expect(allowed(all, 'y/b', 'x/a')).toBe(true);
    expect(allowed(all, 'y/a', 'x/a')).toBe(false);
  });

  test('both selectors in one peer are AND; two peers are OR', () => {
    const and = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'a' } } }] }] }));
    expect(allowed(and, 'y/a', 'x/a')).toBe(true);
    expect(allowed(and, 'y/b', 'x/a')).toBe(false);
    expect(allowed(and, 'x/b', 'x/a')).toBe(false);
    const or = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }, { podSelector: { matchLabels: { app: 'b' } } }] }] }));
    expect(allowed(or, 'y/b', 'x/a')).toBe(true);
    expect(allowed(or, 'x/b', 'x/a')).toBe(true);
  });

  test.each([
    ['In', ['b'], true],
    ['NotIn', ['b'], false],
    ['Exists', undefined, true],
    ['DoesNotExist', undefined, false],
  ])('matchExpressions %s', (operator, values, fromB) => {
    const c = clusterOf(...base, policy('x/p', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator, ...(values ? { values } : {}) }] } }] }] }));
    expect(allowed(c, 'x/b', 'x/a')).toBe(fromB);
    const fromItself = decide(c.engine, { src: { pod: 'x/a' }, dst: { pod: 'x/a' }, port: 80, protocol: 'TCP', family: 'IPv4' });
    expect(fromItself.allowed).toBe(true); // a pod can always reach itself
  });

  test('namespace selection by kubernetes.io/metadata.name, which the API server sets', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }));
    expect(allowed(c, 'y/a', 'x/a')).toBe(true);
    expect(allowed(c, 'x/b', 'x/a')).toBe(false);
  });

  test('ipBlock with except, and ipBlock matching pod IPs', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.1.0/28'] } }] }] }));
    expect(allowed(c, 'x/a', 'x/b')).toBe(true);
    expect(allowed(c, 'x/a', 'y/a')).toBe(false); // 10.244.1.10 is excepted
    expect(allowed(c, 'x/a', '10.244.7.1')).toBe(true);
    expect(allowed(c, 'x/a', '192.168.0.1')).toBe(false);
  });

  test('ipBlock for IPv6 and dual-stack pods; the family of the packet decides', () => {
    const c = clusterOf(
      pod('x/a', { app: 'a' }, ['10.244.0.10', 'fd00:10:244::a']),
      pod('x/b', { app: 'b' }, ['10.244.0.11', 'fd00:10:244::b']),
      policy('x/p', { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10:244::/64', except: ['fd00:10:244::c/128'] } }] }] }),
    );
    expect(allowed(c, 'x/a', 'x/b', 80, 'TCP', 'IPv6')).toBe(true);
    expect(allowed(c, 'x/a', 'x/b', 80, 'TCP', 'IPv4')).toBe(false);
    expect(allowed(c, 'fd00:10:244::c', 'x/b', 80, 'TCP', 'IPv6')).toBe(false);
  });

  test('the unmasked CIDR form upstream e2e uses (<podIP>/4) means the /4 network', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.0.10/4', except: ['10.244.0.11/32'] } }] }] }));
    expect(allowed(c, 'x/a', 'y/a')).toBe(true);
    expect(allowed(c, 'x/a', 'x/b')).toBe(false);
  });
});

describe('ports and protocols', () => {
  test('endPort is an inclusive range', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ ports: [{ port: 8000, endPort: 8010 }] }] }));
    expect(allowed(c, 'y/a', 'x/a', 7999)).toBe(false);
    expect(allowed(c, 'y/a', 'x/a', 8000)).toBe(true);
    expect(allowed(c, 'y/a', 'x/a', 8010)).toBe(true);
    expect(allowed(c, 'y/a', 'x/a', 8011)).toBe(false);
  });

  test('protocol defaults to TCP; a port without number is every port of its protocol', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ ports: [{ port: 53 }, { protocol: 'UDP' }] }] }));
    expect(allowed(c, 'y/a', 'x/a', 53, 'TCP')).toBe(true);
    expect(allowed(c, 'y/a', 'x/a', 9999, 'UDP')).toBe(true);
    expect(allowed(c, 'y/a', 'x/a', 54, 'TCP')).toBe(false);
  });

  test.each(['SCTP', 'UDP'])('a policy allowing only %s still isolates TCP', (protocol) => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [{ ports: [{ port: 81, protocol }] }] }));
    expect(allowed(c, 'y/a', 'x/a', 81, 'TCP')).toBe(false);
    expect(allowed(c, 'y/a', 'x/a', 81, protocol as 'SCTP' | 'UDP')).toBe(true);
  });

  test('ingress named ports resolve against each destination pod, by name and protocol', () => {
    const c = clusterOf(
      pod('x/a', { app: 'svc' }, '10.244.0.10', { ports: [{ name: 'api', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }),
      pod('x/b', { app: 'svc' }, '10.244.0.11', { ports: [{ name: 'api', containerPort: 9000 }] }),
      pod('x/c', { app: 'client' }, '10.244.0.12'),
      policy('x/p', { podSelector: { matchLabels: { app: 'svc' } }, ingress: [{ ports: [{ port: 'api' }, { port: 'dns', protocol: 'TCP' }] }] }),
    );
    expect(allowed(c, 'x/c', 'x/a', 8080)).toBe(true);
    expect(allowed(c, 'x/c', 'x/a', 9000)).toBe(false);
    expect(allowed(c, 'x/c', 'x/b', 9000)).toBe(true);
    expect(allowed(c, 'x/c', 'x/b', 8080)).toBe(false);
    expect(allowed(c, 'x/c', 'x/a', 53, 'TCP')).toBe(false); // dns is UDP on x/a
  });

  test('egress named ports resolve against each destination pod, also without `to`', () => {
    const c = clusterOf(
      pod('x/a', { app: 'svc' }, '10.244.0.10', { ports: [{ name: 'api', containerPort: 8080 }] }),
      pod('y/b', { app: 'svc' }, '10.244.1.11', { ports: [{ name: 'api', containerPort: 9000 }] }),
      pod('x/c', { app: 'client' }, '10.244.0.12'),
      policy('x/p', { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'api' }] }] }),
    );
    expect(allowed(c, 'x/c', 'x/a', 8080)).toBe(true);
    expect(allowed(c, 'x/c', 'x/a', 9000)).toBe(false);
    expect(allowed(c, 'x/c', 'y/b', 9000)).toBe(true);
    expect(allowed(c, 'x/c', 'y/b', 8080)).toBe(false);
    expect(allowed(c, 'x/c', '10.244.9.9', 8080)).toBe(false); // not a pod: a name cannot match
  });
});

describe('pod lifecycle, hostNetwork and addresses', () => {
  test('hostNetwork pods are never matched by selectors and never isolated; their own node reaches pods', () => {
    const c = clusterOf(
      pod('x/a', { app: 'a' }, '10.244.0.10', { node: 'node-0' }),
      pod('x/host0', { app: 'b' }, '172.18.0.2', { hostNetwork: true, node: 'node-0' }),
      pod('x/host1', { app: 'b' }, '172.18.0.3', { hostNetwork: true, node: 'node-1' }),
      policy('x/p', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }),
    );
    expect(allowed(c, 'x/host1', 'x/a')).toBe(false); // app=b matches, but hostNetwork pods are not pods to selectors
    expect(allowed(c, 'x/host0', 'x/a')).toBe(true); // from the pod's own node
    expect(allowed(c, 'x/host1', 'x/host0')).toBe(true); // never isolated
    expect(c.engine.podAllow('x/host0')!.ingress.isolated).toBe(false);
  });

  test('terminal pods and pods without IPs are in no peer set; a Running pod wins a shared IP', () => {
    const c = clusterOf(
      pod('x/a', { app: 'a' }, '10.244.0.10'),
      pod('x/old', { app: 'allowed' }, '10.244.0.20', { phase: 'Succeeded' }),
      pod('x/new', { app: 'other' }, '10.244.0.20', { phase: 'Running' }),
      pod('x/pending', { app: 'other' }, '10.244.0.21', { phase: 'Pending' }),
      pod('x/dup', { app: 'allowed' }, '10.244.0.21', { phase: 'Running' }),
      policy('x/p', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'allowed' } } }] }] }),
    );
    expect(allowed(c, '10.244.0.20', 'x/a')).toBe(false); // the IP belongs to x/new now
    expect(allowed(c, '10.244.0.21', 'x/a')).toBe(true); // Running x/dup wins over Pending x/pending
    expect(c.engine.ownerOf('10.244.0.21')).toBe('x/dup');
  });

  test('a pod without an address gets no allow entries and appears in no set until it has one', () => {
    const engine = new PolicyEngine('n1');
    const { policy: p } = normalizePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: {} }] }] } });
    engine.upsertPolicy(p);
    engine.upsertPod({ namespace: 'x', name: 'a', labels: {}, node: 'n1', ips: [], phase: 'Pending', hostNetwork: false, ports: [] });
    const set = engine.peerSet([...engine.peerSetIds()][0]!)!;
    expect(set.members.size).toBe(0);
    engine.takeChanges();
    engine.upsertPod({ namespace: 'x', name: 'a', labels: {}, node: 'n1', ips: ['10.0.0.1'], phase: 'Running', hostNetwork: false, ports: [] });
    const changes = engine.takeChanges();
    expect([...changes.localPods]).toEqual(['x/a']);
    expect(changes.peerSets.size).toBe(1);
    expect(engine.localPods().get('x/a')!.ips).toEqual(['10.0.0.1']);
  });

  test('only pods of the given node are local', () => {
    const c = clusterOf(pod('x/a', {}, '10.244.0.10', { node: 'n1' }), pod('x/b', {}, '10.244.0.11', { node: 'n2' }));
    const engine = new PolicyEngine('n1');
    for (const p of c.engine.allPods()) engine.upsertPod(p);
    expect([...engine.localPods().keys()]).toEqual(['x/a']);
  });
});

test("client-node's deserialized `_from` means the wire's `from`", () => {
  const wire = normalizePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { a: 'b' } } }] } as never] } });
  const typed = normalizePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: { matchLabels: { a: 'b' } } }] }] } });
  expect(typed).toEqual(wire);
  expect(typed.policy.ingress![0]!.peers).toHaveLength(1);
});

describe('bad input never widens access', () => {
  test('an unknown selector operator rejects the policy with the path', () => {
    expect(() =>
      normalizePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'Equals' }] } } }),
    ).toThrow(/spec\.podSelector\.matchExpressions\[0\]\.operator: unknown operator "Equals"/);
  });

  test('an unknown policy type rejects the policy', () => {
    expect(() => normalizePolicy({ metadata: { name: 'p' }, spec: { podSelector: {}, policyTypes: ['ingress'] } })).toThrow(InvalidObjectError);
  });

  test.each([
    ['malformed CIDR', { from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }, /not a valid CIDR/],
    ['except outside the CIDR', { from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.1.0.0/24'] } }] }, /strict subset/],
    ['invalid port name', { ports: [{ port: 'Not_A_Name' }] }, /not a valid port name/],
    ['port name too long', { ports: [{ port: 'abcdefghijklmnop' }] }, /not a valid port name/],
    ['endPort below port', { ports: [{ port: 90, endPort: 80 }] }, /endPort 80/],
    ['endPort with a named port', { ports: [{ port: 'http', endPort: 80 }] }, /named port/],
    ['unknown protocol', { ports: [{ port: 80, protocol: 'ICMP' }] }, /unsupported protocol/],
    ['empty peer', { from: [{}] }, /must set podSelector/],
    ['ipBlock with selectors', { from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }, /may not be combined/],
    ['In without values', { from: [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }] }, /at least one value/],
  ])('%s: the rule is dropped with a reason, the pods stay isolated', (_name, badRule, reason) => {
    const { policy: p, droppedRules } = normalizePolicy({ metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [badRule as never, { ports: [{ port: 443 }] }] } });
    expect(droppedRules.map((d) => `${d.path}: ${d.message}`).join('\n')).toMatch(reason);
    expect(p.ingress).toHaveLength(1);
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, ingress: [badRule, { ports: [{ port: 443 }] }] }));
    expect(allowed(c, 'y/a', 'x/a', 80)).toBe(false);
    expect(allowed(c, 'y/a', 'x/a', 443)).toBe(true);
    expect(c.diagnostics.some((d) => d.level === 'error' && reason.test(d.message))).toBe(true);
  });
});

describe('decide explains itself', () => {
  test('names the isolating policies and the allowing rule', () => {
    const c = clusterOf(
      ...base,
      policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }),
      policy('x/web', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 443 }] }, { from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] }),
    );
    const v = decide(c.engine, { src: { pod: 'x/b' }, dst: { pod: 'x/a' }, port: 80, protocol: 'TCP', family: 'IPv4' });
    expect(v.allowed).toBe(true);
    expect(v.ingress.policies).toEqual(['x/deny', 'x/web']);
    expect(v.ingress.allowedBy).toEqual([{ policy: 'x/web', index: 1 }]);
    expect(v.egress.isolated).toBe(false);
    const denied = decide(c.engine, { src: { pod: 'y/a' }, dst: { pod: 'x/a' }, port: 80, protocol: 'TCP', family: 'IPv4' });
    expect(denied.allowed).toBe(false);
    expect(denied.ingress.reason).toMatch(/isolated for ingress by x\/deny, x\/web; no rule allows it/);
  });
});
