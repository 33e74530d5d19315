// Every example of the five seed pages, taken from the pages' own text, behaves as the page describes.
import { decide } from '../src/engine/decide.js';
import type { Protocol } from '../src/model/types.js';
import { clusterOf, namespace, pod } from './support/cluster.js';
import { seedSnippets, type SeedSnippet } from './support/seeds.js';

const fixture = [
  namespace('default'),
  namespace('production', { purpose: 'production' }),
  namespace('monitoring', { purpose: 'monitoring' }),
  namespace('devops', { team: 'devops' }),
  namespace('myproject', { project: 'myproject' }),
  namespace('myapp', { project: 'myApp' }),
  pod('default/frontend', { app: 'frontend', role: 'frontend' }, '10.244.0.10'),
  pod('default/backend', { app: 'backend' }, '10.244.0.11'),
  pod('default/db', { role: 'db' }, '10.244.0.12'),
  pod('default/other', { app: 'other' }, '10.244.0.13'),
  pod('production/frontend', { role: 'frontend' }, '10.244.1.10'),
  pod('production/backend', { role: 'backend' }, '10.244.1.11'),
  pod('production/database', { role: 'database' }, '10.244.1.12'),
  pod('monitoring/prometheus', { app: 'prometheus' }, '10.244.2.10'),
  pod('devops/frontend', { role: 'frontend' }, '10.244.2.11'),
  pod('devops/tool', { role: 'tool' }, '10.244.2.12'),
  pod('myproject/client', { app: 'client' }, '10.244.3.10'),
  pod('myapp/frontend', { app: 'frontend' }, '10.244.3.11'),
  pod('myapp/other', { app: 'other' }, '10.244.3.12'),
];

/** [from, to, port/protocol, allowed?]: pods as ns/name, or bare addresses outside the cluster. */
type Check = [string, string, string, boolean];

const DNS = '10.96.0.10';

/** What each page says its example does. Keys: `<page prefix>-<example index>`. */
const expectations: Record<string, { wrap?: (text: string) => string; checks: Check[]; warns?: RegExp }> = {
  '000-0': { checks: [['default/frontend', 'default/backend', '80/TCP', false], ['default/frontend', 'production/backend', '80/TCP', false], ['production/backend', 'default/frontend', '80/TCP', false], ['production/frontend', 'production/backend', '80/TCP', true]] },
  '000-1': { checks: [['default/frontend', 'default/backend', '80/TCP', true], ['default/frontend', 'default/backend', '81/TCP', false], ['default/other', 'default/backend', '80/TCP', false], ['myapp/frontend', 'default/backend', '80/TCP', false], ['default/other', 'default/frontend', '80/TCP', true]] },
  '001-0': { checks: [['default/frontend', 'default/backend', '5555/TCP', true], ['default/other', 'default/backend', '80/TCP', false], ['default/backend', 'production/backend', '80/TCP', true]] },
  '001-1': {
    wrap: (t) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: egress-example, namespace: default}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n${indent(t)}`,
    checks: [['default/frontend', '10.0.0.5', '443/TCP', true], ['default/frontend', '10.0.0.5', '80/TCP', false], ['default/frontend', '10.0.1.5', '443/TCP', false], ['default/frontend', 'production/backend', '80/TCP', false]],
  },
  '002-0': { checks: [['default/frontend', 'production/backend', '80/TCP', false], ['production/backend', 'default/frontend', '80/TCP', true]] },
  '002-1': { checks: [['production/backend', 'default/frontend', '80/TCP', false], ['default/frontend', 'production/backend', '80/TCP', true]] },
  '002-2': { checks: [['production/backend', DNS, '53/UDP', true], ['production/backend', DNS, '53/TCP', true], ['production/backend', 'default/frontend', '80/TCP', false]] },
  '002-3': { checks: [['production/backend', 'default/frontend', '80/TCP', false], ['default/frontend', 'production/backend', '80/TCP', false]] },
  '002-4': { checks: [['production/frontend', 'production/backend', '8080/TCP', true], ['production/frontend', 'production/backend', '80/TCP', false], ['default/frontend', 'production/backend', '8080/TCP', false]] },
  '002-5': { checks: [['monitoring/prometheus', 'production/backend', '9090/TCP', true], ['monitoring/prometheus', 'production/backend', '8080/TCP', false], ['default/frontend', 'production/backend', '9090/TCP', false]] },
  '002-6': { checks: [['production/backend', '10.0.0.5', '443/TCP', true], ['production/backend', '10.0.1.5', '443/TCP', false], ['production/backend', '10.0.0.5', '80/TCP', false], ['production/frontend', '10.0.1.5', '80/TCP', true]] },
  '002-7': {
    wrap: (t) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: or-example, namespace: production}\nspec:\n  podSelector: {matchLabels: {role: backend}}\n${indent(t)}`,
    checks: [['production/frontend', 'production/backend', '80/TCP', true], ['devops/tool', 'production/backend', '80/TCP', true], ['default/frontend', 'production/backend', '80/TCP', false]],
  },
  '002-8': {
    wrap: (t) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: and-example, namespace: production}\nspec:\n  podSelector: {matchLabels: {role: backend}}\n${indent(t)}`,
    checks: [['devops/frontend', 'production/backend', '80/TCP', true], ['production/frontend', 'production/backend', '80/TCP', false], ['devops/tool', 'production/backend', '80/TCP', false]],
  },
  '002-10': { checks: [['production/frontend', 'production/backend', '8080/TCP', true], ['monitoring/prometheus', 'production/backend', '9090/TCP', true], ['production/backend', 'production/database', '5432/TCP', true], ['production/backend', DNS, '53/UDP', true], ['production/backend', 'production/database', '80/TCP', false], ['production/backend', 'default/frontend', '80/TCP', false], ['production/frontend', 'production/backend', '9090/TCP', false]] },
  // Step 3 opens the frontend; the backend stays closed until step 4.
  '002-13': { checks: [['default/frontend', 'production/frontend', '443/TCP', true], ['production/frontend', 'production/backend', '8080/TCP', false], ['production/frontend', DNS, '53/UDP', true]] },
  '002-15': { checks: [['production/frontend', 'production/backend', '8080/TCP', true], ['production/backend', 'production/database', '5432/TCP', true], ['production/frontend', 'production/database', '5432/TCP', false], ['production/database', DNS, '53/UDP', true], ['production/database', 'default/frontend', '80/TCP', false]] },
  '003-0': { checks: [['default/frontend', 'default/backend', '80/TCP', false], ['default/backend', 'default/frontend', '80/TCP', true]] },
  // As printed, `ports` sits inside the peer: Kubernetes drops it and the rule allows every port. nftpol
  // enforces what the API server stores and warns where the page's intent and the YAML differ.
  '003-1': { warns: /unknown field "ports" inside a `from` peer/, checks: [['default/frontend', 'default/backend', '5555/TCP', true], ['default/frontend', 'default/backend', '80/TCP', true], ['default/other', 'default/backend', '5555/TCP', false]] },
  '003-2': { warns: /unknown field "ports" inside a `from` peer/, checks: [['myapp/frontend', 'default/backend', '5555/TCP', true], ['default/frontend', 'default/backend', '5555/TCP', false], ['myapp/other', 'default/backend', '5555/TCP', false]] },
  '004-0': { checks: [['default/frontend', 'default/db', '6379/TCP', true], ['default/frontend', 'default/db', '80/TCP', false], ['myproject/client', 'default/db', '6379/TCP', true], ['172.17.0.5', 'default/db', '6379/TCP', true], ['172.17.1.5', 'default/db', '6379/TCP', false], ['default/db', '10.0.0.5', '5978/TCP', true], ['default/db', '10.0.0.5', '80/TCP', false], ['default/db', 'default/frontend', '80/TCP', false]] },
  '004-1': { checks: [['default/frontend', 'default/backend', '80/TCP', false], ['default/backend', 'production/backend', '80/TCP', true]] },
  '004-2': { checks: [['production/frontend', 'default/backend', '1234/UDP', true]] },
  '004-3': { checks: [['default/frontend', 'production/backend', '80/TCP', false], ['production/backend', 'default/frontend', '80/TCP', true]] },
  '004-4': { checks: [['default/frontend', 'production/backend', '80/TCP', true], ['default/frontend', '8.8.8.8', '53/UDP', true]] },
  '004-5': { checks: [['default/frontend', 'production/backend', '80/TCP', false], ['production/backend', 'default/frontend', '80/TCP', false]] },
};

// Page 002's namespace isolation pattern is five policies meant together (examples 11 to 15); the
// checks of 002-13 and 002-15 run on the pattern's policies up to that step.
const cumulative: Record<string, number> = { '002-13': 11, '002-15': 11 };

function indent(text: string): string {
  return text.split('\n').map((l) => `  ${l}`).join('\n');
}

function id(s: SeedSnippet): string {
  return `${s.file.slice(0, 3)}-${s.index}`;
}

const snippets = seedSnippets();

test('the seed pages hold the examples these tests know', () => {
  const policies = snippets.filter((s) => /kind: NetworkPolicy|^(ingress|egress):/m.test(s.text) && !s.text.startsWith('#'));
  const covered = new Set([...Object.keys(expectations), '002-11', '002-12', '002-14']);
  expect(policies.map(id).filter((k) => !covered.has(k))).toEqual([]);
});

describe.each(Object.entries(expectations))('seed example %s', (key, spec) => {
  test('behaves as its page says', () => {
    const from = cumulative[key];
    const chosen = snippets.filter((s) => (from === undefined ? id(s) === key : s.file.startsWith(key.slice(0, 3)) && s.index >= from && s.index <= Number(key.slice(4))));
    expect(chosen.length).toBeGreaterThan(0);
    const docs = chosen.map((s) => (expectations[id(s)]?.wrap ?? ((t: string) => t))(s.text));
    const cluster = clusterOf(...fixture, ...docs);
    expect(cluster.diagnostics.filter((d) => d.level === 'error')).toEqual([]);
    if (spec.warns) expect(cluster.diagnostics.some((d) => d.level === 'warning' && spec.warns!.test(d.message))).toBe(true);
    else expect(cluster.diagnostics.filter((d) => /unknown field/.test(d.message))).toEqual([]);
    for (const [src, dst, portSpec, expected] of spec.checks) {
      const [port, protocol] = portSpec.split('/');
      const endpoint = (e: string) => (e.includes('/') ? { pod: e } : { ip: e });
      const verdict = decide(cluster.engine, { src: endpoint(src), dst: endpoint(dst), port: Number(port), protocol: protocol as Protocol, family: 'IPv4' });
      expect(`${src} -> ${dst} ${portSpec}: ${verdict.allowed}`).toBe(`${src} -> ${dst} ${portSpec}: ${expected}`);
    }
  });
});
