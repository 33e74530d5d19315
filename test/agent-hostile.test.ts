// Hostile objects through the real agent process, the API server double and the real nft (issue 9): label
// keys that are JavaScript built-in names select as labels, a zoned pod address never reaches nft (the
// rest of the node stays enforced), an invalid label is rejected, a policy over a cost limit is counted.
import { execa } from 'execa';
import { join } from 'node:path';
import { ROOT } from './support/paths.js';

interface Outcome {
  ready: boolean;
  table: string;
  metrics: string[];
  logs: { msg: string; object?: string; path?: string; reason?: string; problems?: string[] }[];
}

let outcome: Outcome;

beforeAll(async () => {
  const r = await execa('unshare', ['-n', process.execPath, join(ROOT, 'test/support/agent-hostile.mjs'), join(ROOT, 'dist/src/cli/main.js')], { reject: false, timeout: 30_000 });
  expect(r.stderr).toBe('');
  outcome = JSON.parse(r.stdout) as Outcome;
}, 40_000);

/** The elements of the table's sets whose name starts with `prefix`, one string per set. */
function setElements(prefix: string): string[] {
  return [...outcome.table.matchAll(/set (\S+) \{[^}]*?elements = \{([^}]*)\}/g)].filter((m) => m[1]!.startsWith(prefix)).map((m) => m[2]!.replace(/\s+/g, ' ').trim());
}

test('the agent is ready: no transaction failed', () => {
  expect(outcome.ready).toBe(true);
  expect(outcome.metrics.filter((l) => l.startsWith('nftpol_sync_failures_total{') && !l.endsWith(' 0'))).toEqual([]);
});

test('a default-deny whose podSelector is "toString DoesNotExist" isolates every pod of the namespace', () => {
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) expect(outcome.table).toContain(`${ip} : jump in-`);
});

test('a peer "constructor Exists" holds only the pod that carries the label', () => {
  expect(setElements('peer-')).toEqual(['10.0.0.4']);
});

test('a zoned pod address is left out, logged and counted; the pod is enforced on its other address', () => {
  expect(outcome.table).not.toContain('fe80::1');
  expect(outcome.table).toContain('10.0.0.3 : jump in-');
  expect(outcome.metrics).toContain('nftpol_rejected_objects_total{kind="PodAddress"} 1');
  expect(outcome.logs).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/pod address rejected/), object: 'Pod x/zoned', path: 'status.podIPs[1].ip' }));
});

test('a pod with an invalid label key is rejected with the reason', () => {
  expect(outcome.table).not.toContain('10.0.0.5');
  expect(outcome.metrics).toContain('nftpol_rejected_objects_total{kind="Pod"} 1');
  expect(outcome.logs).toContainEqual(expect.objectContaining({ object: 'Pod x/bad-label', problems: [expect.stringMatching(/"not a key!" is not a qualified name/)] }));
});

test('a policy over --max-policy-rules is logged and counted in its namespace; its pod stays isolated', () => {
  expect(outcome.metrics).toContain('nftpol_policy_limit_exceeded_total{namespace="x",limit="max-policy-rules"} 1');
  expect(outcome.logs).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/over a cost limit/), object: 'NetworkPolicy x/big', path: 'spec.ingress[2]' }));
  expect(outcome.table).toMatch(/dport 1 accept|dport 1 /);
  expect(outcome.table).not.toMatch(/dport 3\b/);
});
