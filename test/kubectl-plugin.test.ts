// The built `kubectl-nftpol` executable, invoked by a real kubectl as a plugin (found on PATH, as after
// `npm install -g`), against the API server double: flags, -o json|yaml, exit codes.
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { ROOT } from './support/paths.js';

// Built from source by e2e/k8s/build.sh (the version the sandbox's real control plane uses).
const KUBECTL = process.env.NFTPOL_KUBECTL ?? join(homedir(), '.cache', 'nftpol-k8s', 'v1.37.2', 'kubectl');
const PLUGIN = join(ROOT, 'dist', 'src', 'cli', 'kubectl-nftpol.js');
const present = existsSync(KUBECTL);
if (!present) console.warn(`kubectl-plugin.test.ts: skipped, no kubectl at ${KUBECTL} (build it with e2e/k8s/build.sh, or set NFTPOL_KUBECTL)`);
const withKubectl = present ? test : test.skip;

// Each case starts kubectl and Node a few times: seconds on a busy machine.
jest.setTimeout(90_000);

let api: ApiServerDouble;
let bin: string;

function kubectl(args: string[], env: Record<string, string> = {}) {
  // Only the plugin's directory and Node 24's: kubectl finds the plugin by name, the plugin's
  // `#!/usr/bin/env node` finds Node 24.
  return execa(KUBECTL, args, { reject: false, env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: bin, ...env }, extendEnv: false, timeout: 30_000 });
}

beforeAll(async () => {
  bin = mkdtempSync(join(tmpdir(), 'nftpol-plugin-'));
  // What npm does for a package.json `bin` entry: a link on PATH (npm run build makes the file executable).
  symlinkSync(PLUGIN, join(bin, 'kubectl-nftpol'));
  api = new ApiServerDouble();
  await api.start();
  api.apply('Namespace', { metadata: { name: 'prod' } });
  for (const [name, ip] of [['frontend', '10.244.0.10'], ['db', '10.244.0.11'], ['cron', '10.244.0.12']] as const) {
    api.apply('Pod', { metadata: { namespace: 'prod', name, labels: { app: name } }, spec: { nodeName: 'node-0', containers: [] }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } });
  }
  api.apply('NetworkPolicy', {
    metadata: { namespace: 'prod', name: 'db' },
    spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ port: 5432 }] }] },
  });
});

afterAll(async () => {
  await api?.destroy();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

withKubectl('kubectl plugin list finds it', async () => {
  const r = await kubectl(['plugin', 'list']);
  expect(r.stdout).toContain(join(bin, 'kubectl-nftpol'));
});

withKubectl('kubectl nftpol explain --from prod/frontend --to prod/db --port 5432/TCP: text, -o json, -o yaml, exit 0', async () => {
  const question = ['nftpol', 'explain', '--kubeconfig', api.kubeconfig, '--from', 'prod/frontend', '--to', 'prod/db', '--port', '5432/TCP'];
  const text = await kubectl(question);
  expect([text.exitCode, text.stderr]).toEqual([0, '']);
  expect(text.stdout).toMatch(/^prod\/frontend \(10\.244\.0\.10\) -> prod\/db \(10\.244\.0\.11\) 5432\/TCP IPv4: ALLOWED\n/);
  const json = await kubectl([...question, '-o', 'json']);
  expect(JSON.parse(json.stdout)).toMatchObject({ from: 'prod/frontend', to: 'prod/db', allowed: true, ingress: { policies: ['prod/db'] } });
  // -n and KUBECONFIG, as kubectl's own commands take them.
  const yaml = await kubectl(['nftpol', 'explain', '-n', 'prod', '--from', 'cron', '--to', 'db', '-p', '5432/TCP', '-o', 'yaml'], { KUBECONFIG: api.kubeconfig });
  expect([yaml.exitCode, parseYaml(yaml.stdout)]).toEqual([0, expect.objectContaining({ from: 'prod/cron', allowed: false })]);
});

withKubectl('the plugin takes the agent\'s cost-limit flags, so that it answers as an agent with them enforces', async () => {
  const question = ['nftpol', 'explain', '--kubeconfig', api.kubeconfig, '--from', 'prod/frontend', '--to', 'prod/db', '--port', '5432/TCP'];
  const within = await kubectl([...question, '--max-policy-rules', '1', '--max-policy-ports', '1']);
  expect([within.exitCode, within.stderr]).toEqual([0, '']);
  const bad = await kubectl([...question, '--max-selector-values', '0']);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr).toMatch(/"0" is not a count/);
});

withKubectl('kubectl nftpol matrix -n prod', async () => {
  const r = await kubectl(['nftpol', 'matrix', '-n', 'prod', '--port', '5432/TCP', '-o', 'json'], { KUBECONFIG: api.kubeconfig });
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(r.stdout).results['5432/TCP']).toEqual({ 'prod/frontend': '-..', 'prod/db': '.-.', 'prod/cron': '.X-' });
});

withKubectl('exit codes: 2 for usage (unknown flag, unknown command, bad port, agent), 1 when the cluster cannot be read', async () => {
  for (const args of [
    ['nftpol', 'explain', '--from', 'a', '--to', 'b', '--bogus'],
    ['nftpol', 'explain', '--from', 'a', '--to', 'b', '--port', '99999'],
    ['nftpol', 'agent'],
  ]) {
    const r = await kubectl(args, { KUBECONFIG: api.kubeconfig });
    expect({ args, code: r.exitCode }).toEqual({ args, code: 2 });
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  }
  const control = await kubectl(['nftpol', 'matrix', '--kubeconfig', api.kubeconfig]);
  expect(control.exitCode).toBe(0); // the control: the same command reaches the double
  await api.stop();
  try {
    const r = await kubectl(['nftpol', 'matrix', '--kubeconfig', api.kubeconfig]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^nftpol: cannot list \S+ from the API server at http:\/\/127\.0\.0\.1:\d+ \(context double\): .*fetch failed.*connect ECONNREFUSED/);
  } finally {
    await api.restart();
  }
});
