// Rendered rulesets: valid for the real nft (`nft -c` in a throwaway network namespace) for every seed
// example and every step of every shared scenario, on every node, full and incremental; stable against
// reviewed golden files; and immune to names that try to inject nft syntax.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCommand } from '../src/cli/offline.js';
import { compileTable } from '../src/nft/compile.js';
import { renderDiff, renderFull } from '../src/nft/render.js';
import { parseScenario } from '../src/scenario/format.js';
import { ScenarioModel } from '../src/scenario/evaluate.js';
import { nodeName } from '../src/scenario/objects.js';
import { clusterOf, pod, policy } from './support/cluster.js';
import { nftCheck } from './support/nft.js';
import { ROOT, SHARED } from './support/paths.js';

const table = { table: 'nftpol', denyAction: 'drop' as const };
const SEEDS = join(ROOT, 'examples', 'seeds');
const seedFiles = readdirSync(SEEDS).filter((f) => /^\d\d-.*\.yaml$/.test(f));

describe('seed examples render to rulesets nft accepts', () => {
  test.each(seedFiles)('%s', async (file) => {
    for (const node of ['node-0', 'node-1']) {
      for (const denyAction of ['drop', 'reject'] as const) {
        const out = renderCommand({ files: [join(SEEDS, 'pods.yaml'), join(SEEDS, file)], node, diff: [], table: 'nftpol', denyAction });
        expect(await nftCheck(out.stdout)).toBe('');
      }
    }
  });
});

const scenarioDir = join(SHARED, 'scenarios', 'examples');
describe('every step of every shared scenario renders, full and as a diff, on every node', () => {
  test.each(readdirSync(scenarioDir).filter((f) => f.endsWith('.yaml')))('%s', async (file) => {
    const scenario = parseScenario(readFileSync(join(scenarioDir, file), 'utf8'));
    for (let n = 0; n < scenario.nodes; n++) {
      const model = new ScenarioModel(scenario, nodeName(n));
      let previous = compileTable(model.engine, table);
      for (const step of scenario.steps) {
        model.apply(step);
        const next = compileTable(model.engine, table);
        // The diff is checked as nft would apply it: on top of the previous full table, in one transaction.
        expect(await nftCheck(renderFull(previous, table) + renderDiff(previous, next, table))).toBe('');
        expect(await nftCheck(renderFull(next, table))).toBe('');
        previous = next;
      }
    }
  });
});

describe('golden rulesets (reviewed by a person; regenerate with UPDATE_GOLDEN=1)', () => {
  const cases: [string, string[], string][] = [
    ['seed-allow-frontend-to-backend-node-1', ['02-allow-frontend-to-backend.yaml'], 'node-1'],
    ['seed-production-isolation-node-1', ['04-production-isolation.yaml'], 'node-1'],
  ];
  test.each(cases)('%s', (name, files, node) => {
    const out = renderCommand({ files: [join(SEEDS, 'pods.yaml'), ...files.map((f) => join(SEEDS, f))], node, diff: [], table: 'nftpol', denyAction: 'drop' }).stdout;
    const golden = join(ROOT, 'test', 'golden', `${name}.nft`);
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, out);
    expect(out).toBe(readFileSync(golden, 'utf8'));
  });
});

test('names that try to inject nft syntax never reach the script', async () => {
  const evil = 'x/a"; flush ruleset; #';
  const c = clusterOf(
    pod(evil, { app: 'a' }, '10.244.0.10', { node: 'n' }),
    pod('x/b', { app: 'b' }, '10.244.0.11', { node: 'n' }),
    // A label value like this one never reaches the engine (the boundary rejects it, as the API server
    // does); selector values are not checked, so the policy carries it to the engine.
    pod('x/c', { app: '"}; flush ruleset' }, '10.244.0.12', { node: 'n' }),
    policy('x/p"; flush ruleset', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['"}; flush ruleset', 'b'] }] } }] }] }),
  );
  expect(c.diagnostics.some((d) => d.level === 'error' && d.object === 'Pod x/c' && /label value/.test(d.message))).toBe(true);
  const engine = c.engine;
  const script = renderFull(compileTable(engine, table), table);
  expect(script).not.toMatch(/flush ruleset/);
  expect(script).toContain('ip saddr @peer-');
  expect(await nftCheck(script)).toBe('');
});

test('ipBlock peers without exceptions are matched in the rule itself, not through one named set each', async () => {
  const rules = Array.from({ length: 300 }, (_, i) => ({ from: [{ ipBlock: { cidr: `172.16.${i % 256}.${(i >> 8) * 16}/28` } }], ports: [{ protocol: 'TCP', port: 1000 + i }] }));
  const c = clusterOf(
    pod('x/a', { app: 'a' }, ['10.244.0.10', 'fd00::10'], { node: 'n' }),
    policy('x/many', { podSelector: {}, ingress: [...rules, { from: [{ ipBlock: { cidr: 'fd00:1::/64' } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] }),
  );
  const state = compileTable(c.engine, table);
  // Only the ipBlock with an exception needs a set (one per family of the pod's addresses).
  expect([...state.sets.keys()].filter((name) => name.startsWith('peer-'))).toHaveLength(2);
  const script = renderFull(state, table);
  expect(script).toContain('ip saddr 172.16.5.0/28 meta l4proto tcp th dport 1005 accept');
  expect(script).toContain('ip6 saddr fd00:1::/64 accept');
  expect(script).not.toMatch(/ip6 saddr 172\.16|ip saddr fd00:1/);
  expect(await nftCheck(script)).toBe('');
});
