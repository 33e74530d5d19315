// The install manifests (daemonset/), checked without a cluster:
// - schema-valid: kubernetes-models' validators (generated from the Kubernetes OpenAPI schema), plus no
//   field that the Kubernetes API does not have (client-node's field lists, also from OpenAPI);
// - consistent with the agent: every flag the DaemonSet passes exists and parses, the probes and the
//   scrape target use the addresses the agent listens on, the RBAC allows exactly the calls the agent makes,
//   one image everywhere, matching the package's version;
// - what docs/install.md promises about privileges, scheduling and rollouts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import type { V1ClusterRole, V1ClusterRoleBinding, V1Container, V1DaemonSet, V1Service, V1ServiceAccount } from '@kubernetes/client-node';
import { VERSION } from '../src/agent/agent.js';
import { parseListen } from '../src/cli/agent-command.js';
import { buildProgram } from '../src/cli/program.js';
import { WATCH_PATHS } from '../src/watch/kube.js';
import { unknownFields } from './support/k8s-fields.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, 'daemonset');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

function load(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return doc.toJS() as Manifest;
  });
}

const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const installed = yamlFiles(DIR).flatMap((f) => load(join(DIR, f)).map((m) => ({ file: f, m })));
const uninstall = yamlFiles(join(DIR, 'uninstall')).flatMap((f) => load(join(DIR, 'uninstall', f)).map((m) => ({ file: `uninstall/${f}`, m })));

function one<T>(kind: string, name?: string): T {
  const found = installed.filter(({ m }) => m.kind === kind && (name === undefined || m.metadata.name === name));
  expect(found).toHaveLength(1);
  return found[0]!.m as unknown as T;
}

const daemonSet = one<V1DaemonSet>('DaemonSet');
const podSpec = daemonSet.spec!.template.spec!;
const agent: V1Container = podSpec.containers[0]!;

const VALIDATORS: Record<string, { validate(): void } & (new (data: never) => { validate(): void })> = {
  'v1/ServiceAccount': ServiceAccount as never,
  'v1/Service': Service as never,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as never,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as never,
  'apps/v1/DaemonSet': DaemonSet as never,
};

describe('every manifest is schema-valid', () => {
  test.each([...installed, ...uninstall].map(({ file, m }) => [`${file}: ${m.kind} ${m.metadata.name}`, m] as const))('%s', (_name, manifest) => {
    const Model = VALIDATORS[`${manifest.apiVersion}/${manifest.kind}`];
    expect(Model).toBeDefined();
    expect(() => new Model!(manifest as never).validate()).not.toThrow();
    expect(unknownFields(manifest, `V1${manifest.kind}`)).toEqual([]);
  });

  test('the checks catch a misspelt field and a wrong type', () => {
    const broken = JSON.parse(JSON.stringify(daemonSet)) as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    broken.spec.template.spec.containers[0]!.securityContext = { readOnlyRootFileSystem: true };
    expect(unknownFields(broken, 'V1DaemonSet')).toEqual(['spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem']);
    broken.spec.template.spec.containers[0]!.ports = [{ containerPort: '9745' }];
    expect(() => new DaemonSet(broken as never).validate()).toThrow(/containerPort must be integer/);
  });
});

test('kubectl apply -k and kubectl apply -f install the same objects', () => {
  const kustomization = load(join(DIR, 'Kustomization'))[0] as unknown as { kind: string; resources: string[] };
  expect(kustomization.kind).toBe('Kustomization');
  expect([...kustomization.resources].sort()).toEqual(yamlFiles(DIR));
  expect(installed.map(({ m }) => m.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Service', 'ServiceAccount']);
});

describe('the DaemonSet runs the agent as the agent expects', () => {
  const agentCommand = buildProgram().commands.find((c) => c.name() === 'agent')!;
  const args = agent.args ?? [];
  const flags = args.slice(1).map((arg) => {
    const match = /^(--[a-z-]+)=(.*)$/.exec(arg);
    if (!match) throw new Error(`DaemonSet arg "${arg}" is not --flag=value`);
    return { flag: match[1]!, value: match[2]! };
  });
  const flag = (name: string) => flags.find((f) => f.flag === name)?.value;
  const metrics = parseListen(flag('--metrics-bind-address') ?? '');
  const healthz = parseListen(flag('--healthz-bind-address') ?? '');

  test('the subcommand is agent, and every flag exists and parses', () => {
    expect(args[0]).toBe('agent');
    for (const { flag: name, value } of flags) {
      const option = agentCommand.options.find((o) => o.long === name);
      expect({ name, exists: option !== undefined }).toEqual({ name, exists: true });
      const parse = option!.parseArg as ((value: string, previous: unknown) => unknown) | undefined;
      if (parse) expect(() => parse(value, undefined)).not.toThrow();
      if (option!.argChoices) expect(option!.argChoices).toContain(value);
    }
  });

  test('the probes use the healthz address; container ports, scrape annotation and Service the metrics address', () => {
    expect(flag('--listen')).toBeUndefined(); // deprecated: one address for both
    expect(metrics).toEqual({ host: '0.0.0.0', port: 9745 }); // Prometheus scrapes it from other hosts
    expect(healthz).toEqual({ host: '127.0.0.1', port: 9746 }); // only the kubelet, on the node, probes it
    const probe = { host: healthz.host, port: healthz.port };
    expect(agent.startupProbe?.httpGet).toMatchObject({ path: '/healthz', ...probe });
    expect(agent.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', ...probe });
    expect(agent.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', ...probe });
    expect(agent.ports).toEqual([
      { name: 'metrics', containerPort: metrics.port, protocol: 'TCP' },
      { name: 'healthz', containerPort: healthz.port, protocol: 'TCP' },
    ]);
    const annotations = daemonSet.spec!.template.metadata!.annotations!;
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metrics.port), 'prometheus.io/path': '/metrics' });
    const service = one<V1Service>('Service');
    expect(service.spec!.selector).toEqual(daemonSet.spec!.selector.matchLabels);
    expect(service.spec!.ports).toEqual([{ name: 'metrics', port: metrics.port, targetPort: 'metrics', protocol: 'TCP' }]);
  });

  test("the V8 heap cap leaves room below the container's memory limit", () => {
    const options = agent.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
    const limit = /^(\d+)(Mi|Gi)$/.exec(String(agent.resources?.limits?.memory))!;
    const limitMiB = Number(limit[1]) * (limit[2] === 'Gi' ? 1024 : 1);
    expect(heapMiB).toBeGreaterThan(0);
    expect(heapMiB).toBeLessThanOrEqual(limitMiB / 2);
  });

  test('NODE_NAME comes from the downward API', () => {
    expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  });

  test('privileges: host network, uid 0, only NET_ADMIN, read-only root, not privileged', () => {
    expect(podSpec.hostNetwork).toBe(true);
    expect(agent.securityContext).toMatchObject({
      runAsUser: 0,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] },
    });
    expect(podSpec.hostPID ?? false).toBe(false);
    expect((podSpec.volumes ?? []).filter((v) => v.hostPath)).toEqual([]);
  });

  test('scheduling and rollout: every node, critical, one node at a time, never two agents on a node', () => {
    expect(daemonSet.metadata!.namespace).toBe('kube-system');
    expect(podSpec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(podSpec.priorityClassName).toBe('system-node-critical');
    expect(daemonSet.spec!.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(agent.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(agent.resources?.limits).toMatchObject({ memory: expect.any(String) });
  });
});

describe('RBAC', () => {
  const role = one<V1ClusterRole>('ClusterRole');
  const binding = one<V1ClusterRoleBinding>('ClusterRoleBinding');
  const account = one<V1ServiceAccount>('ServiceAccount');

  test('allows exactly list and watch on what the agent watches, and nothing else', () => {
    const granted = role.rules!.flatMap((rule) => rule.apiGroups!.flatMap((group) => rule.resources!.map((resource) => `${group}/${resource}: ${[...rule.verbs].sort().join(',')}`)));
    const needed = Object.values(WATCH_PATHS).map((path) => {
      const match = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/([a-z]+)$/.exec(path)!;
      return `${match[1] ?? ''}/${match[2]}: list,watch`;
    });
    expect(granted.sort()).toEqual(needed.sort());
  });

  test('binds that role to the DaemonSet service account', () => {
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata!.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata!.name, namespace: account.metadata!.namespace }]);
    expect(podSpec.serviceAccountName).toBe(account.metadata!.name);
    expect(account.metadata!.namespace).toBe(daemonSet.metadata!.namespace);
  });
});

describe('one image, the package version', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

  test('the DaemonSet image is tagged with the package version, as the agent reports itself', () => {
    expect(podSpec.containers).toHaveLength(1);
    expect(agent.image).toBe(`ghcr.io/nftpol/nftpol:${pkg.version}`);
    expect(VERSION).toBe(pkg.version);
  });

  test('the uninstall DaemonSet runs nftpol cleanup on the same image and table, with no API access', () => {
    const cleanup = uninstall.map(({ m }) => m as unknown as V1DaemonSet).find((m) => m.kind === 'DaemonSet')!;
    const spec = cleanup.spec!.template.spec!;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) expect(c.image).toBe(agent.image);
    const table = (agent.args ?? []).find((a) => a.startsWith('--table='))?.slice('--table='.length) ?? 'nftpol';
    expect(spec.initContainers![0]!.args).toEqual(['cleanup', `--table=${table}`]);
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.tolerations).toEqual(podSpec.tolerations);
    expect(spec.hostNetwork).toBe(true);
  });
});
