// Strict mode's judgement of tracked connections: conntrack lines read right, and exactly the connections
// the committed table would now deny are picked, judged after DNAT, never node-originated ones, a pod
// talking to itself, or one already marked.
import { parseConntrackLine, type ConntrackEntry } from '../src/agent/conntrack.js';
import { staleConnections, sweepPlan } from '../src/agent/strict.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { normalizePolicy } from '../src/model/normalize.js';
import { STRICT_CT_MARK } from '../src/nft/strict.js';

const line = (src: string, dst: string, sport: number, dport: number, rsrc = dst, rsport = dport, protocol = 'tcp') =>
  `${protocol}      6 431999 ESTABLISHED src=${src} dst=${dst} sport=${sport} dport=${dport} src=${rsrc} dst=${src} sport=${rsport} dport=${sport} [ASSURED] mark=0 use=1`;

test('conntrack -L lines: both tuples, TCP, UDP and SCTP, IPv6; other protocols skipped', () => {
  expect(parseConntrackLine(line('10.244.0.11', '10.96.0.10', 40000, 80, '10.244.0.10', 8080))).toEqual({
    family: 'IPv4',
    protocol: 'tcp',
    original: { src: '10.244.0.11', dst: '10.96.0.10', sport: 40000, dport: 80 },
    reply: { src: '10.244.0.10', dst: '10.244.0.11', sport: 8080, dport: 40000 },
    mark: 0,
  });
  expect(parseConntrackLine('udp      17 29 src=fd00::11 dst=fd00::10 sport=5 dport=53 [UNREPLIED] src=fd00::10 dst=fd00::11 sport=53 dport=5 mark=0 use=1')).toMatchObject({ family: 'IPv6', protocol: 'udp' });
  expect(parseConntrackLine('sctp     132 3 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=9000 src=10.0.0.2 dst=10.0.0.1 sport=9000 dport=5000 [ASSURED] mark=0 use=1')).toMatchObject({ protocol: 'sctp' });
  expect(parseConntrackLine('icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=1 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=1 mark=0 use=1')).toBeNull();
  expect(parseConntrackLine('conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.')).toBeNull();
});

function engine(): PolicyEngine {
  const e = new PolicyEngine('node-0');
  e.upsertNamespace({ name: 'x', labels: {} } as never);
  const pod = (name: string, ip: string, node = 'node-0') => e.upsertPod({ namespace: 'x', name, labels: { role: name }, node, ips: [ip], phase: 'Running', hostNetwork: false, ports: [] });
  pod('db', '10.244.0.10');
  pod('api', '10.244.0.11');
  pod('web', '10.244.1.12', 'node-1');
  // db admits api on 8080 only.
  e.upsertPolicy(normalizePolicy({ metadata: { namespace: 'x', name: 'db' }, spec: { podSelector: { matchLabels: { role: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'api' } } }], ports: [{ port: 8080 }] } as never] } }).policy);
  return e;
}

const entry = (text: string): ConntrackEntry => parseConntrackLine(text)!;

test('picks what the table now denies, judged after DNAT; leaves allowed, self and node traffic alone', () => {
  const e = engine();
  const allowedViaService = entry(line('10.244.0.11', '10.96.0.10', 40000, 80, '10.244.0.10', 8080));
  const deniedViaService = entry(line('10.244.1.12', '10.96.0.10', 40001, 80, '10.244.0.10', 8080));
  const deniedPort = entry(line('10.244.0.11', '10.244.0.10', 40002, 5432));
  const self = entry(line('10.244.0.10', '10.96.0.11', 40003, 80, '10.244.0.10', 9000));
  const fromNode = entry(line('172.18.0.2', '10.244.0.10', 40004, 22));
  const remoteOnly = entry(line('10.244.1.12', '10.1.2.3', 40005, 443));
  const endedAlready = entry(line('10.244.1.12', '10.244.0.10', 40006, 5432).replace('mark=0', `mark=${STRICT_CT_MARK | 5}`));
  const stale = staleConnections(e, [allowedViaService, deniedViaService, deniedPort, self, fromNode, remoteOnly, endedAlready], new Set(['172.18.0.2']));
  expect(stale).toEqual([
    { entry: deniedViaService, direction: 'ingress' },
    { entry: deniedPort, direction: 'ingress' },
  ]);
});

test('egress of a local source is judged on the real destination and port', () => {
  const e = engine();
  e.upsertPolicy(normalizePolicy({ metadata: { namespace: 'x', name: 'api-out' }, spec: { podSelector: { matchLabels: { role: 'api' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.1.0/24' } }] } as never] } }).policy);
  const toWeb = entry(line('10.244.0.11', '10.244.1.12', 40000, 80));
  const toDb = entry(line('10.244.0.11', '10.96.0.10', 40001, 80, '10.244.0.10', 8080));
  expect(staleConnections(e, [toWeb, toDb], new Set())).toEqual([{ entry: toDb, direction: 'egress' }]);
});

test('ended connections that a change allows again are handed back (their entries deleted), those still denied are left', () => {
  const e = engine();
  const marked = (text: string) => entry(text.replace('mark=0', `mark=${STRICT_CT_MARK}`));
  const nowAllowed = marked(line('10.244.0.11', '10.244.0.10', 40000, 8080));
  const stillDenied = marked(line('10.244.1.12', '10.244.0.10', 40001, 8080));
  const open = entry(line('10.244.0.11', '10.244.0.10', 40002, 8080));
  expect(sweepPlan(e, [nowAllowed, stillDenied, open], new Set())).toEqual({ stale: [], readmitted: [nowAllowed] });
});
