// The offline CLI as users run it: the built `nftpol` binary on real files, and its commands' output shapes.
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainCommand, matrixCommand, parsePortSpec, UsageError } from '../src/cli/offline.js';
import { namespace, pod, policy } from './support/cluster.js';
import { ROOT, SHARED } from './support/paths.js';

const BIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nftpol-cli-'));
  writeFileSync(
    join(dir, 'cluster.yaml'),
    [
      namespace('x'),
      pod('x/a', { app: 'a' }, '10.244.0.10'),
      pod('x/b', { app: 'b' }, '10.244.0.11'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x', name: 'c', labels: { app: 'c' } }, spec: { containers: [] } }),
    ].join('\n---\n'),
  );
  writeFileSync(
    join(dir, 'policy.yaml'),
    policy('x/only-b', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port: 80 }] }] }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('matrix -o json has the shape of a scenario step', () => {
  const out = matrixCommand({ files: [dir], ports: [parsePortSpec('80/TCP'), parsePortSpec('81')], family: 'IPv4', output: 'json' });
  expect(JSON.parse(out.stdout)).toEqual({
    pods: ['x/a', 'x/b', 'x/c'],
    results: {
      '80/TCP': { 'x/a': '-..', 'x/b': '.-.', 'x/c': 'X.-' },
      '81/TCP': { 'x/a': '-..', 'x/b': 'X-.', 'x/c': 'X.-' },
    },
  });
  // x/c has no status.podIPs: it gets a deterministic address, with a notice.
  expect(out.stderr).toMatch(/notice: Pod x\/c: no status\.podIPs; using 10\.244\.\d+\.\d+/);
});

test('explain names the policy and rule', () => {
  const out = explainCommand({ files: [dir], from: 'x/b', to: 'x/a', port: parsePortSpec('80/TCP'), family: null, output: 'text' });
  expect(out.stdout).toContain('ALLOWED');
  expect(out.stdout).toContain('allowed by x/only-b ingress[0]');
  const denied = explainCommand({ files: [dir], from: 'x/c', to: 'x/a', port: parsePortSpec('80/TCP'), family: null, output: 'json' });
  const verdict = JSON.parse(denied.stdout);
  expect(verdict.allowed).toBe(false);
  expect(verdict.ingress.policies).toEqual(['x/only-b']);
});

test('usage errors are clear', () => {
  expect(() => parsePortSpec('http')).toThrow(UsageError);
  expect(() => explainCommand({ files: [dir], from: 'x/nope', to: 'x/a', port: parsePortSpec('80'), family: null, output: 'text' })).toThrow(/no pod x\/nope/);
  expect(() => matrixCommand({ files: [], ports: [], family: 'IPv4', output: 'table' })).toThrow(/-f/);
});

describe('the built binary', () => {
  beforeAll(() => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "make build" (make test does) first`);
  });

  test('--help for every subcommand', async () => {
    for (const sub of ['matrix', 'explain']) {
      const r = await execa(process.execPath, [BIN, sub, '--help']);
      expect(r.stdout).toMatch(/Usage: nftpol/);
    }
  });

  test('warns about the seed page that nests ports inside a peer, with file and line', async () => {
    const r = await execa(process.execPath, [BIN, 'matrix', '-f', join(ROOT, 'examples/seeds/pods.yaml'), '-f', join(ROOT, 'examples/seeds/03-beginners-guide-misplaced-ports.yaml')]);
    expect(r.stderr).toMatch(/warning: .*03-beginners-guide-misplaced-ports\.yaml:19: NetworkPolicy default\/allow-all-ingress spec\.ingress\[0\]\.from\[0\]\.ports: unknown field "ports"/);
  });

  test('warns about selectors that match nothing and namespace labels nobody has', async () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, policy('x/typo', { podSelector: { matchLabels: { app: 'frontnd' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { tema: 'a' } } }] }] }));
    const r = await execa(process.execPath, [BIN, 'matrix', '-f', join(dir, 'cluster.yaml'), '-f', file]);
    expect(r.stderr).toMatch(/spec\.podSelector: selects no pod in namespace x \(app=frontnd\)/);
    expect(r.stderr).toMatch(/namespaceSelector: no namespace has the label "tema"/);
  });

  test('matrix --scenario exits 0 when the expectations hold', async () => {
    const r = await execa(process.execPath, [BIN, 'matrix', '--scenario', join(SHARED, 'scenarios/examples/and-versus-or.yaml'), '-o', 'json']);
    expect(JSON.parse(r.stdout).passed).toBe(true);
  });

  test('a bad flag exits 2 with a message', async () => {
    const r = await execa(process.execPath, [BIN, 'matrix', '-f', dir, '--port', 'eighty'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not a port/);
  });
});

test('a dropped rule is reported at its own line', () => {
  const file = join(dir, 'bad-rule.yaml');
  writeFileSync(
    file,
    ['apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata: {name: bad, namespace: x}', 'spec:', '  podSelector: {}', '  ingress:', '  - ports: [{port: 80}]', '  - from:', '    - ipBlock: {cidr: 10.0.0.0/33}', ''].join('\n'),
  );
  const out = matrixCommand({ files: [join(dir, 'cluster.yaml'), file], ports: [], family: 'IPv4', output: 'json' });
  expect(out.stderr).toMatch(/error: .*bad-rule\.yaml:9: NetworkPolicy x\/bad spec\.ingress\[1\]\.from\[0\]\.ipBlock\.cidr: "10\.0\.0\.0\/33" is not a valid CIDR/);
});

describe('a policy over a cost limit (issue 9)', () => {
  let file: string;
  beforeAll(() => {
    file = join(dir, 'over-limit.yaml');
    writeFileSync(
      file,
      ['apiVersion: networking.k8s.io/v1', 'kind: NetworkPolicy', 'metadata: {name: big, namespace: x}', 'spec:', '  podSelector: {matchLabels: {app: a}}', '  ingress:', '  - ports: [{port: 80}]', '  - ports: [{port: 81}]', ''].join('\n'),
    );
  });

  test.each(['matrix', 'render', 'explain'])('%s reports it at the rule that crossed the limit, and the rule allows nothing', async (command) => {
    const args = { matrix: ['--port', '81/TCP'], render: ['--node', 'node-0'], explain: ['--from', 'x/b', '--to', 'x/a', '--port', '81/TCP'] }[command]!;
    const r = await execa(process.execPath, [BIN, command, '-f', join(dir, 'cluster.yaml'), '-f', file, '--max-policy-rules', '1', ...args]);
    expect(r.stderr).toMatch(/error: .*over-limit\.yaml:8: NetworkPolicy x\/big spec\.ingress\[1\]: the policy has more than 1 rules \(--max-policy-rules\); this rule and the 0 after it are left out and allow nothing; the policy still isolates its pods/);
    if (command === 'matrix') expect(r.stdout).toMatch(/^x\/b\s+X\s+-\s+\.$/m);
    if (command === 'render') expect(r.stdout).not.toMatch(/dport 81/);
    if (command === 'explain') {
      expect(r.stdout).toMatch(/DENIED/);
      expect(r.stdout).toMatch(/note: x\/big is over a cost limit and enforced only up to it: spec\.ingress\[1\]: the policy has more than 1 rules/);
    }
    // Within the default limits the same manifests say nothing of limits.
    const within = await execa(process.execPath, [BIN, command, '-f', join(dir, 'cluster.yaml'), '-f', file, ...args]);
    expect(within.stderr + within.stdout).not.toMatch(/cost limit|--max-policy-rules/);
  });

  test('the limit flags are the same on the agent, and a bad one exits 2', async () => {
    const help = await execa(process.execPath, [BIN, 'agent', '--help']);
    for (const flag of ['--max-policy-rules', '--max-policy-peers', '--max-policy-ports', '--max-policy-excepts', '--max-selector-values']) expect(help.stdout).toContain(flag);
    const r = await execa(process.execPath, [BIN, 'matrix', '-f', dir, '--max-policy-excepts', '0'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/"0" is not a count/);
  });
});
