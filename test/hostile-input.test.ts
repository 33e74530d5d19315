// Hostile input at the model boundary and in the engine (issue 9): label keys that are JavaScript built-in
// property names, keys the API server would reject, addresses that are not plain addresses, and policies
// over a cost limit. Each must be rejected with a clear error or never widen access.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import fc from 'fast-check';
import { blockContainsIp, compileBlock } from '../src/engine/peerset.js';
import { selectorMatches } from '../src/engine/selector.js';
import { cidrContainsIp, cidrText, parseCidr } from '../src/model/ip.js';
import { labelKeyProblem, labelValueProblem } from '../src/model/labels.js';
import { DEFAULT_POLICY_LIMITS, policyLimitsProblems, type PolicyLimits } from '../src/model/limits.js';
import { InvalidObjectError, normalizeNamespace, normalizePod, normalizePolicy, type Problem } from '../src/model/normalize.js';
import type { LabelSelector, Labels } from '../src/model/types.js';
import { ValueSet } from '../src/model/values.js';
import { buildCluster } from '../src/manifests/cluster.js';
import { parseManifests } from '../src/manifests/load.js';
import { parseScenario, ScenarioError } from '../src/scenario/format.js';
import { ScenarioModel } from '../src/scenario/evaluate.js';
import { LABEL_KEYS, labels as labelsArb, selector as selectorArb } from './support/arbitraries.js';
import { allowed, clusterOf, namespace, pod, policy } from './support/cluster.js';

/** A NetworkPolicy as the API delivers it (wire field names such as `from`). */
const np = (spec: Record<string, unknown>, name = 'p'): V1NetworkPolicy => ({ metadata: { namespace: 'x', name }, spec }) as V1NetworkPolicy;

const BUILTIN_KEYS = ['toString', 'constructor', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString'];

const base = [
  namespace('x'),
  namespace('y'),
  pod('x/a', { app: 'a' }, '10.244.0.10'),
  pod('x/b', { app: 'b' }, '10.244.0.11'),
  pod('y/c', { app: 'c' }, '10.244.1.10'),
];

describe('label keys that are JavaScript built-in property names', () => {
  test.each(BUILTIN_KEYS)('a default-deny whose podSelector is "%s DoesNotExist" selects every pod without that label', (key) => {
    const c = clusterOf(...base, policy('x/deny', { podSelector: { matchExpressions: [{ key, operator: 'DoesNotExist' }] } }));
    expect(allowed(c, 'y/c', 'x/a')).toBe(false);
    expect(allowed(c, 'x/b', 'x/a')).toBe(false);
    expect(allowed(c, 'x/a', 'y/c')).toBe(true);
  });

  test.each(BUILTIN_KEYS)('a peer "%s Exists" admits only pods that carry the label, in its namespace or in selected ones', (key) => {
    const c = clusterOf(
      ...base,
      pod('x/d', { [key]: 'yes' }, '10.244.0.12'),
      pod('y/d', { [key]: 'yes' }, '10.244.1.11'),
      policy('x/same-namespace', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key, operator: 'Exists' }] } }] }] }),
      policy('y/any-namespace', { podSelector: { matchLabels: { app: 'c' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key, operator: 'Exists' }] } }] }] }),
    );
    expect(allowed(c, 'x/b', 'x/a')).toBe(false);
    expect(allowed(c, 'x/d', 'x/a')).toBe(true);
    expect(allowed(c, 'x/b', 'y/c')).toBe(false);
    expect(allowed(c, 'x/d', 'y/c')).toBe(true);
    expect(allowed(c, 'y/d', 'y/c')).toBe(true);
  });

  test('matchLabels, In and NotIn on built-in names compare own labels only', () => {
    const c = clusterOf(
      ...base,
      pod('y/d', { constructor: 'Object' }, '10.244.1.11'),
      policy('x/in', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'constructor', operator: 'In', values: ['Object'] }] } }] }] }),
      policy('y/notin', { podSelector: { matchExpressions: [{ key: 'valueOf', operator: 'NotIn', values: ['x'] }] }, ingress: [] }),
      policy('y/labels', { podSelector: { matchLabels: { toString: 'x' } }, ingress: [{}] }),
    );
    expect(allowed(c, 'y/c', 'x/a')).toBe(false);
    expect(allowed(c, 'y/d', 'x/a')).toBe(true);
    // NotIn matches pods without the label: y/c and y/d are isolated with no rule.
    expect(allowed(c, 'x/a', 'y/c')).toBe(false);
    expect(allowed(c, 'x/a', 'y/d')).toBe(false);
  });

  test('property: selectorMatches agrees with a Map of the own labels, on a vocabulary of built-in names', () => {
    const oracle = (selector: LabelSelector, labels: Labels): boolean => {
      const own = new Map(Object.entries(labels));
      return (
        Object.entries(selector.matchLabels).every(([k, v]) => own.get(k) === v) &&
        selector.matchExpressions.every((req) => {
          const value = own.get(req.key);
          switch (req.operator) {
            case 'In':
              return value !== undefined && req.values.has(value);
            case 'NotIn':
              return value === undefined || !req.values.has(value);
            case 'Exists':
              return value !== undefined;
            case 'DoesNotExist':
              return value === undefined;
          }
        })
      );
    };
    fc.assert(fc.property(selectorArb, labelsArb, (selector, labels) => selectorMatches(selector, labels) === oracle(selector, labels)), { numRuns: 2000 });
  });
});

describe('label keys and values the API server rejects are rejected at the boundary', () => {
  test.each([
    ['__proto__', 'qualified name'],
    ['_private', 'qualified name'],
    ['-a', 'qualified name'],
    ['a-', 'qualified name'],
    ['a'.repeat(64), 'qualified name'],
    ['', 'qualified name'],
    ['/a', 'prefix'],
    ['Example.com/a', 'prefix'],
    ['a/b/c', 'prefix'],
    ['example.com/', 'qualified name'],
  ])('key %j', (key, reason) => {
    expect(labelKeyProblem(key)).toMatch(reason);
    const bad = { metadata: { namespace: 'x', name: 'p', labels: { [key]: 'v' } } };
    expect(() => normalizePod(bad)).toThrow(InvalidObjectError);
    expect(() => normalizePod(bad)).toThrow(/metadata\.labels.*is not a qualified name|prefix/);
    expect(() => normalizeNamespace({ metadata: { name: 'x', labels: { [key]: 'v' } } })).toThrow(InvalidObjectError);
    expect(() => normalizePolicy(np({ podSelector: { matchExpressions: [{ key, operator: 'Exists' }] } }))).toThrow(InvalidObjectError);
    const { droppedRules } = normalizePolicy(np({ podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { [key]: 'v' } } }] }] }));
    expect(droppedRules[0]?.path).toMatch(/^spec\.ingress\[0\]\.from\[0\]\.podSelector\.matchLabels/);
  });

  test.each(['toString', 'constructor', 'app.kubernetes.io/name', 'a', 'A_b.c-9', 'a'.repeat(63), `${'a'.repeat(253)}/b`])('key %j is valid', (key) => {
    expect(labelKeyProblem(key)).toBeNull();
    expect(normalizePod({ metadata: { namespace: 'x', name: 'p', labels: { [key]: 'v' } } }).labels[key]).toBe('v');
  });

  test.each([['-x'], ['x-'], ['a b'], ['a'.repeat(64)], ['__proto__']])('label value %j is rejected', (value) => {
    expect(labelValueProblem(value)).toMatch(/label value .* is not valid/);
    expect(() => normalizePod({ metadata: { namespace: 'x', name: 'p', labels: { app: value } } })).toThrow(InvalidObjectError);
  });

  test('a scenario with such a label is invalid, with the reason (not a crash)', () => {
    const text = ['name: bad-label', 'namespaces: [{name: x}]', 'pods:', '  - {namespace: x, name: a, labels: {__proto__: a}}', 'steps:', '  - probes: [{port: 80}]', ''].join('\n');
    expect(() => ScenarioModel.evaluate(parseScenario(text))).toThrow(ScenarioError);
    expect(() => ScenarioModel.evaluate(parseScenario(text))).toThrow(/Pod x\/a: metadata\.labels\["__proto__"\]: label key "__proto__" is not a qualified name/);
  });

  test('property: a pod is rejected exactly when one of its label keys is invalid, and otherwise keeps its labels', () => {
    const VALID = ['app', 'toString', 'constructor', 'valueOf', 'example.com/hasOwnProperty'];
    const INVALID = ['__proto__', '__defineGetter__', '-x', 'x/', 'Example.com/x', 'a b'];
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...VALID, ...INVALID), fc.constantFrom('v', 'toString'), { maxKeys: 3 }), (labels) => {
        const raw = JSON.parse(JSON.stringify({ metadata: { namespace: 'x', name: 'p', labels } }));
        const keys = Object.keys(raw.metadata.labels);
        if (keys.some((k) => INVALID.includes(k))) {
          expect(() => normalizePod(raw)).toThrow(/is not a qualified name|prefix must be a DNS subdomain/);
        } else {
          const p = normalizePod(raw);
          expect(Object.entries(p.labels).sort()).toEqual(Object.entries(raw.metadata.labels).sort());
        }
      }),
      { numRuns: 500 },
    );
  });

  test('a `__proto__` label parsed from JSON is a key like any other, and rejected', () => {
    const raw = JSON.parse('{"metadata":{"namespace":"x","name":"p","labels":{"__proto__":"x","app":"a"}}}');
    expect(() => normalizePod(raw)).toThrow(/"__proto__" is not a qualified name/);
  });

  test('the model keeps no inherited label: a normalized pod has no `toString` label', () => {
    const p = normalizePod({ metadata: { namespace: 'x', name: 'p', labels: { app: 'a' } } });
    expect(Object.keys(p.labels)).toEqual(['app']);
    expect(selectorMatches({ matchLabels: {}, matchExpressions: [{ key: 'toString', operator: 'Exists', values: new ValueSet([]) }] }, p.labels)).toBe(false);
  });

  test('a manifest field named like a built-in is reported as unknown, not crashed on', () => {
    const c = clusterOf(...base, policy('x/p', { podSelector: {}, toString: 1, ingress: [{ constructor: {} }] }));
    expect(c.diagnostics.map((d) => d.message)).toEqual(expect.arrayContaining(['unknown field "toString": the API server drops it', 'unknown field "constructor": the API server drops it']));
  });
});

describe('addresses that are not plain IPv4 or IPv6 addresses', () => {
  test.each(['fe80::1%eth0', 'fe80::1%25eth0', '10.0.0.1/32', '10.0.0', 'example.com', '010.0.0.1', ''])('pod IP %j is left out and reported; the valid one is kept', (ip) => {
    const problems: Problem[] = [];
    const p = normalizePod({ metadata: { namespace: 'x', name: 'p' }, status: { podIPs: [{ ip }, { ip: '10.0.0.2' }] } }, problems);
    expect(p.ips).toEqual(['10.0.0.2']);
    expect(problems).toEqual([{ path: 'status.podIPs[0].ip', message: expect.stringMatching(/is not an IPv4 or IPv6 address/) }]);
  });

  test.each(['fe80::%eth0/64', '10.0.0.0%x/8'])('ipBlock %j is rejected with the rule', (cidr) => {
    const { policy: p, droppedRules } = normalizePolicy(np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr } }] }] }));
    expect(p.ingress).toEqual([]);
    expect(droppedRules[0]).toMatchObject({ path: 'spec.ingress[0].from[0].ipBlock.cidr', message: expect.stringMatching(/not a valid CIDR/) });
    const except = normalizePolicy(np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'fe80::/10', except: ['fe80::1%eth0/128'] } }] }] }));
    expect(except.droppedRules[0]?.path).toBe('spec.ingress[0].from[0].ipBlock.except[0]');
  });

  test('a pod with a zoned address in the manifests: a notice, and the rest of the cluster is enforced', () => {
    const c = clusterOf(...base, pod('x/z', { app: 'z' }, ['fe80::1%eth0', '10.244.0.12']), policy('x/deny', { podSelector: {} }));
    expect(c.diagnostics.some((d) => d.path === 'status.podIPs[0].ip' && /fe80::1%eth0/.test(d.message))).toBe(true);
    expect(c.engine.pod('x/z')?.ips).toEqual(['10.244.0.12']);
    expect(allowed(c, 'y/c', 'x/a')).toBe(false);
    expect(allowed(c, 'y/c', 'x/z')).toBe(false);
  });
});

describe('In/NotIn value lists', () => {
  test('are sets built once at the boundary: duplicates collapse, order is canonical', () => {
    const { policy: p } = normalizePolicy(np({ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['b', 'a', 'b'] }] } }));
    expect([...p.podSelector.matchExpressions[0]!.values]).toEqual(['a', 'b']);
  });

  test('property: a value set answers as the list it was built from', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', '0', '-', 'é', '😀'), maxLength: 4 });
    fc.assert(
      fc.property(fc.array(text, { maxLength: 30 }), fc.array(text, { maxLength: 10 }), (values, probes) => {
        const set = new ValueSet(values);
        expect(set.size).toBe(new Set(values).size);
        for (const v of [...values, ...probes]) expect(set.has(v)).toBe(values.includes(v));
      }),
      { numRuns: 1000 },
    );
  });

  test('10,000 values select exactly the pods whose value is listed', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => `v${i}`);
    const c = clusterOf(
      ...base,
      pod('y/d', { app: 'v9999' }, '10.244.1.11'),
      policy('x/p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values }] } }] }] }),
    );
    expect(allowed(c, 'y/d', 'x/a')).toBe(true);
    expect(allowed(c, 'y/c', 'x/a')).toBe(false);
  });
});

describe('ipBlock except lists', () => {
  test('property: membership by binary search over merged ranges equals checking every except', () => {
    const subnet = fc.record({ third: fc.integer({ min: 0, max: 3 }), fourth: fc.integer({ min: 0, max: 255 }), prefix: fc.integer({ min: 22, max: 32 }) });
    fc.assert(
      fc.property(fc.array(subnet, { maxLength: 12 }), fc.array(fc.record({ third: fc.integer({ min: 0, max: 4 }), fourth: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 20 }), (excepts, ips) => {
        const texts = excepts.map((e) => cidrText(parseCidr(`10.1.${e.third}.${e.fourth}/${e.prefix}`)!));
        const block = compileBlock('10.1.0.0/22', texts);
        for (const { third, fourth } of ips) {
          const ip = `10.1.${third}.${fourth}`;
          const naive = cidrContainsIp(parseCidr('10.1.0.0/22')!, ip) && !texts.some((t) => cidrContainsIp(parseCidr(t)!, ip));
          expect(blockContainsIp(block, ip)).toBe(naive);
        }
        expect(blockContainsIp(block, 'fd00::1')).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('limits on what one policy may cost', () => {
  const small: PolicyLimits = { maxRules: 3, maxPeers: 3, maxPorts: 3, maxExcepts: 3, maxSelectorValues: 3 };
  const peer = (app: string) => ({ podSelector: { matchLabels: { app } } });

  test('the defaults are the agreed ones and valid; bad limits are each reported', () => {
    expect(DEFAULT_POLICY_LIMITS).toEqual({ maxRules: 1000, maxPeers: 1000, maxPorts: 1000, maxExcepts: 10_000, maxSelectorValues: 10_000 });
    expect(policyLimitsProblems(DEFAULT_POLICY_LIMITS)).toEqual([]);
    expect(policyLimitsProblems({ ...small, maxRules: 0, maxExcepts: 1.5 })).toEqual([
      '--max-policy-rules must be a whole number of at least 1, not 0',
      '--max-policy-excepts must be a whole number of at least 1, not 1.5',
    ]);
  });

  test.each([
    ['maxRules', { ingress: [{ from: [peer('a')] }, { from: [peer('b')] }, { from: [peer('c')] }, { from: [peer('d')] }] }, 3],
    ['maxPeers', { ingress: [{ from: [peer('a'), peer('b')] }, { from: [peer('c'), peer('d')] }] }, 1],
    ['maxPorts', { ingress: [{ ports: [{ port: 1 }, { port: 2 }] }, { ports: [{ port: 3 }, { port: 4 }] }] }, 1],
    ['maxExcepts', { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.0.0/16'] } }] }, { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.3.0.0/16', '10.4.0.0/16'] } }] }] }, 1],
    ['maxSelectorValues', { ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] } }] }, { from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['c', 'd'] }] } }] }] }, 1],
  ])('%s: the rule that crosses the limit and the rest of its direction are left out and reported', (limit, spec, kept) => {
    const { policy: p, overLimit, droppedRules } = normalizePolicy(np({ podSelector: {}, ...spec }), small);
    expect(droppedRules).toEqual([]);
    expect(p.ingress).toHaveLength(kept);
    expect(overLimit).toEqual([{ path: `spec.ingress[${kept}]`, limit, message: expect.stringMatching(/more than 3 .*; this rule and the \d+ after it are left out and allow nothing/) }]);
    // Within the limits the same policy is whole.
    expect(normalizePolicy(np({ podSelector: {}, ...spec })).overLimit).toEqual([]);
  });

  test('the budget is shared by both directions; egress is counted after ingress', () => {
    const { policy: p, overLimit } = normalizePolicy(np({ podSelector: {}, ingress: [{}, {}], egress: [{}, {}] }), small);
    expect(p.ingress).toHaveLength(2);
    expect(p.egress).toHaveLength(1);
    expect(overLimit.map((o) => o.path)).toEqual(['spec.egress[1]']);
  });

  test('a podSelector over maxSelectorValues rejects the object, naming the limit', () => {
    const spec = { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b', 'c', 'd'] }] } };
    expect(() => normalizePolicy(np(spec), small)).toThrow(/spec\.podSelector: 4 In\/NotIn values, more than the 3 a policy may have \(--max-selector-values\)/);
  });

  test('over a limit, the policy still isolates, its rules beyond the limit allow nothing, and other policies are unaffected', () => {
    const values = Array.from({ length: 10_001 }, (_, i) => `v${i}`);
    const c = clusterOf(
      ...base,
      pod('y/d', { app: 'v1' }, '10.244.1.11'),
      policy('x/huge', {
        podSelector: { matchLabels: { app: 'a' } },
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'c' } } }] }, { from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values }] } }] }],
      }),
      policy('y/ordinary', { podSelector: { matchLabels: { app: 'c' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'b' } } }] }] }),
    );
    expect(c.diagnostics).toEqual(
      expect.arrayContaining([expect.objectContaining({ level: 'error', object: 'NetworkPolicy x/huge', path: 'spec.ingress[1]', message: expect.stringMatching(/--max-selector-values/) })]),
    );
    expect(allowed(c, 'y/c', 'x/a')).toBe(true); // the rule within the limit
    expect(allowed(c, 'y/d', 'x/a')).toBe(false); // the over-limit rule allows nothing
    expect(allowed(c, 'x/b', 'x/a')).toBe(false); // x/a stays isolated
    expect(allowed(c, 'x/b', 'y/c')).toBe(true); // another tenant's policy as written
    expect(allowed(c, 'x/a', 'y/c')).toBe(false);
  });

  const peerFrom = (app: string) => ({ namespaceSelector: {}, podSelector: { matchLabels: { app } } });
  const inValues = (app: string) => ({ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [app] }] } });
  test.each([
    ['maxRules', [{ from: [peerFrom('c')] }, { from: [peerFrom('d')] }]],
    ['maxPeers', [{ from: [peerFrom('c')] }, { from: [peerFrom('d')] }]],
    ['maxPorts', [{ from: [peerFrom('c')], ports: [{ port: 80 }] }, { from: [peerFrom('d')], ports: [{ port: 80 }] }]],
    ['maxExcepts', [{ from: [{ ipBlock: { cidr: '10.244.1.8/30', except: ['10.244.1.11/32'] } }] }, { from: [{ ipBlock: { cidr: '10.244.1.0/24', except: ['10.244.1.10/32'] } }] }]],
    ['maxSelectorValues', [{ from: [inValues('c')] }, { from: [inValues('d')] }]],
  ])('%s = 1: the policy isolates, the rule over the limit allows nothing, another tenant is unaffected', (limit, ingress) => {
    const docs = [
      ...base,
      pod('y/d', { app: 'd' }, '10.244.1.11'),
      policy('x/p', { podSelector: { matchLabels: { app: 'a' } }, ingress }),
      policy('y/q', { podSelector: { matchLabels: { app: 'c' } }, ingress: [{ from: [peerFrom('b')] }] }),
    ];
    const within = clusterOf(...docs);
    expect(allowed(within, 'y/d', 'x/a')).toBe(true);
    const c = buildCluster(parseManifests(docs.join('\n---\n'), 'test.yaml'), null, { ...DEFAULT_POLICY_LIMITS, [limit]: 1 });
    expect(c.diagnostics.filter((d) => /cost limit|more than 1 /.test(d.message)).map((d) => `${d.object} ${d.path}`)).toEqual(['NetworkPolicy x/p spec.ingress[1]']);
    expect(allowed(c, 'y/c', 'x/a')).toBe(true); // the rule within the limit
    expect(allowed(c, 'y/d', 'x/a')).toBe(false); // the rule over it allows nothing
    expect(allowed(c, 'x/b', 'x/a')).toBe(false); // x/a stays isolated
    expect(allowed(c, 'x/b', 'y/c')).toBe(true); // another tenant's policy, as written
    expect(allowed(c, 'x/a', 'y/c')).toBe(false);
    expect(allowed(c, 'x/a', 'x/b')).toBe(true); // pods no policy selects stay open
  });

  test('keys of the vocabulary the property tests draw from include every built-in name', () => {
    for (const key of BUILTIN_KEYS) expect(LABEL_KEYS).toContain(key);
  });
});
