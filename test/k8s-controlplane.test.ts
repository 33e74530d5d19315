// daemonset/ against a real kube-apiserver (e2e/k8s/controlplane.ts; binaries from make k8s-bin): both
// install commands the README gives pass server-side validation and admission, and the ServiceAccount's
// rights are exactly the calls the agent makes. Skipped, with the reason, when the binaries are not built
// or the test cannot create network namespaces (not root).
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binDir, ControlPlane } from '../e2e/k8s/controlplane.js';
import { WATCH_PATHS } from '../src/watch/kube.js';
import { ROOT } from './support/paths.js';
import { realControlPlaneSkip } from './support/real-control-plane.js';

jest.setTimeout(120_000);

const DAEMONSET = join(ROOT, 'daemonset');
const skip = realControlPlaneSkip();
if (skip) console.warn(`skipping the real control plane tests: ${skip}`);
const maybe = skip ? test.skip : test;

/** `kubectl auth can-i --list` as rows of resource -> sorted verbs (non-resource URLs left out). */
function resourceRights(output: string): Map<string, string> {
  const rights = new Map<string, string>();
  for (const line of output.trim().split('\n').slice(1)) {
    const columns = line.trim().split(/\s{2,}/);
    const [resource, urls] = columns;
    if (!resource || urls?.startsWith('[/') || line.trim().startsWith('[')) continue;
    const verbs = columns[columns.length - 1]!.replace(/^\[|\]$/g, '').split(' ').sort().join(' ');
    rights.set(resource, verbs);
  }
  return rights;
}

/** The rights the agent uses: list and watch on each path it reads (src/watch/kube.ts). */
function agentRights(): Map<string, string> {
  return new Map(
    Object.values(WATCH_PATHS).map((path) => {
      // /api/v1/pods -> pods; /apis/networking.k8s.io/v1/networkpolicies -> networkpolicies.networking.k8s.io
      const parts = path.split('/').filter(Boolean);
      const resource = parts[0] === 'api' ? parts[2]! : `${parts[3]}.${parts[1]}`;
      return [resource, 'list watch'];
    }),
  );
}

describe('daemonset/ on a real kube-apiserver', () => {
  let plane: ControlPlane | undefined;
  beforeAll(async () => {
    if (!skip) plane = await ControlPlane.start();
  });
  afterAll(async () => {
    await plane?.stop();
  });

  maybe('kubectl apply -f daemonset/ and kubectl apply -k daemonset/ both succeed (server-side validation and admission)', async () => {
    const applied = await plane!.kubectl(['apply', '-f', DAEMONSET]);
    expect(applied).toMatch(/daemonset\.apps\/nftpol created/);
    expect(applied).toMatch(/clusterrole\.rbac\.authorization\.k8s\.io\/nftpol created/);
    await plane!.kubectl(['delete', '-f', DAEMONSET, '--wait=false']);
    const kustomized = await plane!.kubectl(['apply', '-k', DAEMONSET]);
    expect(kustomized).toMatch(/daemonset\.apps\/nftpol created/);
    expect(kustomized).toMatch(/serviceaccount\/nftpol created/);
    // The server's dry run of a second apply finds nothing to change.
    expect(await plane!.kubectl(['diff', '-k', DAEMONSET]).catch((error: Error) => error.message)).toBe('');
  });

  maybe('the ServiceAccount may do exactly what the agent does, beyond what every account may', async () => {
    await plane!.kubectl(['apply', '-k', DAEMONSET]);
    const nftpol = resourceRights(await plane!.kubectl(['auth', 'can-i', '--list', '--as=system:serviceaccount:kube-system:nftpol']));
    // An account without bindings has what every authenticated user has (self reviews and the like).
    const everyone = resourceRights(await plane!.kubectl(['auth', 'can-i', '--list', '--as=system:serviceaccount:kube-system:nobody']));
    const own = new Map([...nftpol].filter(([resource, verbs]) => everyone.get(resource) !== verbs));
    expect(Object.fromEntries(own)).toEqual(Object.fromEntries(agentRights()));
  });
});

describe('the control plane harness', () => {
  const ours = async () => ({
    namespaces: String((await execa('ip', ['netns', 'list'])).stdout)
      .split('\n')
      .filter((line) => line.startsWith('nftpolk')),
    dirs: readdirSync(tmpdir()).filter((name) => name.startsWith('nftpol-k8s-')),
  });

  maybe('a component that fails to start leaves no process, namespace or file, and its log is in the error', async () => {
    // The real binaries, but a kube-apiserver that refuses its flags.
    const bin = mkdtempSync(join(tmpdir(), 'nftpol-test-bin-'));
    const real = binDir();
    for (const name of ['etcd', 'kube-controller-manager', 'kubectl']) symlinkSync(join(real, name), join(bin, name));
    writeFileSync(join(bin, 'kube-apiserver'), '#!/bin/sh\necho "Error: unknown flag: --made-up" >&2\nexit 1\n', { mode: 0o755 });
    const before = await ours();
    const saved = process.env.NFTPOL_K8S_BIN;
    process.env.NFTPOL_K8S_BIN = bin;
    try {
      await expect(ControlPlane.start()).rejects.toThrow(/kube-apiserver exited \(1\)[\s\S]*unknown flag: --made-up/);
    } finally {
      if (saved === undefined) delete process.env.NFTPOL_K8S_BIN;
      else process.env.NFTPOL_K8S_BIN = saved;
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await ours()).toEqual(before);
    // etcd was started before kube-apiserver failed: it was ended, not left running.
    expect(String((await execa('pgrep', ['-f', `^${join(bin, 'etcd')}`], { reject: false })).stdout)).toBe('');
  });
});
