// The subcommands that answer from objects: manifests read from files, or objects already listed from a
// live cluster (src/cli/live.ts). Each returns its output and exit code so that tests call them directly;
// main.ts only wires them to the command line.
import { readFileSync } from 'node:fs';
import type { DenyLogOptions } from '../nft/denylog.js';
import { stringify as toYaml } from 'yaml';
import { decide, type Endpoint, type SideVerdict, type Verdict } from '../engine/decide.js';
import { connectivityMatrix, formatMatrix } from '../engine/matrix.js';
import { buildCluster, type ManifestCluster } from '../manifests/cluster.js';
import { formatDiagnostic } from '../manifests/diagnostics.js';
import { loadManifestFiles, type LoadedManifests } from '../manifests/load.js';
import { familyOf } from '../model/ip.js';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from '../model/limits.js';
import { isProtocol, type Family, type Protocol } from '../model/types.js';
import { compileTable, type DenyAction } from '../nft/compile.js';
import { renderDiff, renderFull } from '../nft/render.js';
import { parseScenario } from '../scenario/format.js';
import { ScenarioModel } from '../scenario/evaluate.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export interface PortSpec {
  readonly port: number;
  readonly protocol: Protocol;
}

/** `80`, `80/TCP`, `53/udp`. */
export function parsePortSpec(text: string): PortSpec {
  const match = /^(\d{1,5})(?:\/([A-Za-z]+))?$/.exec(text.trim());
  const port = match ? Number(match[1]) : NaN;
  const protocol = (match?.[2] ?? 'TCP').toUpperCase();
  if (!match || port < 1 || port > 65535 || !isProtocol(protocol)) {
    throw new UsageError(`"${text}" is not a port: want PORT or PORT/PROTOCOL (TCP, UDP, SCTP), e.g. 80/TCP`);
  }
  return { port, protocol };
}

/** nft table names nftpol accepts: letters, digits, `_` and `-`, starting with a letter, at most 64. */
export function parseTableName(text: string): string {
  if (!/^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/.test(text)) throw new UsageError(`"${text}" is not a table name nftpol uses: want a letter, then letters, digits, _ or -`);
  return text;
}

export function parseFamily(text: string): Family {
  const family = text === 'IPv4' || text === 'ipv4' || text === '4' ? 'IPv4' : text === 'IPv6' || text === 'ipv6' || text === '6' ? 'IPv6' : null;
  if (family === null) throw new UsageError(`"${text}" is not an IP family: want IPv4 or IPv6`);
  return family;
}

/** -o json or -o yaml of the same document (kubectl's conventions). */
export function structured(value: unknown, output: 'json' | 'yaml'): string {
  return output === 'yaml' ? toYaml(value, { lineWidth: 0 }) : JSON.stringify(value, null, 2) + '\n';
}

/** The objects come from files, or already read (a live cluster, src/cli/live.ts). */
function loadCluster(files: readonly string[], node: string | null = null, read?: LoadedManifests, limits: PolicyLimits = DEFAULT_POLICY_LIMITS): { cluster: ManifestCluster; stderr: string } {
  if (!read && files.length === 0) throw new UsageError('give manifests with -f <file or directory>');
  const cluster = buildCluster(read ?? loadManifestFiles(files), node, limits);
  const stderr = cluster.diagnostics.map((d) => formatDiagnostic(d) + '\n').join('');
  if (cluster.diagnostics.some((d) => d.level === 'error' && d.message.startsWith('cannot read'))) throw new UsageError(stderr.trim());
  return { cluster, stderr };
}

export interface MatrixOptions {
  readonly files: readonly string[];
  /** Objects read from a live cluster, used instead of files. */
  readonly cluster?: LoadedManifests;
  /** Only the pods of this namespace as rows and columns (the policies of every namespace still count). */
  readonly namespace?: string;
  readonly ports: readonly PortSpec[];
  readonly family: Family;
  readonly output: 'table' | 'json' | 'yaml';
  /** What one policy may cost, as the agent's flags set it (over a limit is reported on stderr). */
  readonly limits?: PolicyLimits;
}

export function matrixCommand(options: MatrixOptions): CommandResult {
  const { cluster, stderr } = loadCluster(options.files, null, options.cluster, options.limits);
  const pods = options.namespace === undefined ? cluster.pods : cluster.pods.filter((key) => key.startsWith(`${options.namespace}/`));
  if (pods.length === 0) {
    const where = options.cluster ? 'the cluster has' : 'the manifests hold';
    throw new UsageError(`${where} no Pod${options.cluster ? ' with an address' : ''}${options.namespace === undefined ? '' : ` in namespace ${options.namespace}`}: the matrix needs pods${options.cluster ? '' : ' (kubectl get pods -A -o yaml)'}`);
  }
  const ports = options.ports.length > 0 ? options.ports : [{ port: 80, protocol: 'TCP' as const }];
  const results: Record<string, Record<string, string>> = {};
  for (const p of ports) {
    const key = `${p.port}/${p.protocol}${options.family === 'IPv6' ? '/IPv6' : ''}`;
    results[key] = connectivityMatrix(cluster.engine, pods, { ...p, family: options.family });
  }
  const stdout =
    options.output !== 'table'
      ? structured({ pods, results }, options.output)
      : Object.entries(results)
          .map(([key, rows]) => formatMatrix(key, pods, rows))
          .join('\n\n') + '\n';
  return { stdout, stderr, code: 0 };
}

export function scenarioMatrixCommand(file: string, output: 'table' | 'json' | 'yaml'): CommandResult {
  const scenario = parseScenario(readFileSync(file, 'utf8'));
  const steps = ScenarioModel.evaluate(scenario);
  const pods = scenario.pods.map((p) => p.key);
  const passed = scenario.steps.some((s) => s.expect) ? steps.every((s) => s.mismatches.length === 0) : null;
  let stdout: string;
  if (output !== 'table') {
    stdout = structured({ scenario: scenario.name, pods, steps, passed }, output);
  } else {
    stdout = steps
      .map((step, i) => {
        const tables = Object.entries(step.results).map(([key, rows]) => formatMatrix(key, pods, rows));
        const problems = step.mismatches.map((m) => `  mismatch ${m.probe} ${m.from} -> ${m.to}: expected ${m.expected}, policies say ${m.observed}`);
        return [`# step ${i + 1}: ${step.name}`, ...tables, ...problems].join('\n\n');
      })
      .join('\n\n') + '\n';
  }
  return { stdout, stderr: '', code: passed === false ? 1 : 0 };
}

export interface ExplainOptions {
  readonly files: readonly string[];
  /** Objects read from a live cluster, used instead of files. */
  readonly cluster?: LoadedManifests;
  /** The namespace of a pod named without one (default: `default`). */
  readonly namespace?: string;
  readonly from: string;
  readonly to: string;
  readonly port: PortSpec;
  readonly family: Family | null;
  readonly output: 'text' | 'json' | 'yaml';
  readonly limits?: PolicyLimits;
}

/** `namespace/pod`, or a pod of the default namespace given as `pod`. */
export function podKey(text: string, namespace = 'default'): string {
  return text.includes('/') ? text : `${namespace}/${text}`;
}

function endpoint(text: string, cluster: ManifestCluster, namespace: string | undefined, live: boolean): Endpoint {
  if (familyOf(text) !== null) return { ip: text };
  const key = podKey(text, namespace);
  if (!cluster.engine.pod(key)) {
    const known = live ? `${cluster.pods.length} pods with an address` : `pods: ${cluster.pods.join(', ') || 'none'}`;
    throw new UsageError(`no pod ${key} in the ${live ? 'cluster' : 'manifests'} (${known})`);
  }
  return { pod: key };
}

function describeSide(title: string, v: SideVerdict): string {
  const mark = v.allowed ? 'allows' : 'DENIES';
  const lines = [`${title}: ${mark} - ${v.reason}`];
  if (v.isolated) lines.push(`  selected by: ${v.policies.join(', ')}`);
  return lines.join('\n');
}

/** Policies over a cost limit that bear on a verdict: `namespace/name` -> where and why. */
export type OverLimitNotes = Readonly<Record<string, readonly string[]>>;

export function explainText(query: { from: string; to: string; port: PortSpec; family: Family }, v: Verdict, overLimit: OverLimitNotes = {}): string {
  const head = `${query.from} (${v.srcIp ?? 'no address'}) -> ${query.to} (${v.dstIp ?? 'no address'}) ${query.port.port}/${query.port.protocol} ${query.family}: ${v.allowed ? 'ALLOWED' : 'DENIED'}`;
  const notes = Object.entries(overLimit).flatMap(([policy, problems]) => problems.map((p) => `note: ${policy} is over a cost limit and enforced only up to it: ${p}`));
  return [head, describeSide('egress of the source', v.egress), describeSide('ingress of the destination', v.ingress), ...notes].join('\n') + '\n';
}

/** The over-limit problems of the policies that select either side (their rules past the limit allow nothing). */
function overLimitNotes(cluster: ManifestCluster, v: Verdict): OverLimitNotes {
  const notes: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const policy of [...v.egress.policies, ...v.ingress.policies]) {
    const problems = cluster.overLimit.get(policy);
    if (problems) notes[policy] = problems.map((p) => `${p.path}: ${p.message}`);
  }
  return notes;
}

export interface Explanation {
  readonly query: { readonly from: string; readonly to: string; readonly port: PortSpec; readonly family: Family };
  readonly verdict: Verdict;
  /** The pods at each end (namespace/name), when they are pods. */
  readonly pods: { readonly src: string | null; readonly dst: string | null };
  /** Policies over a cost limit that select either end. */
  readonly overLimit: OverLimitNotes;
  readonly stderr: string;
}

/** The verdict and its reasons, before formatting (explain --node adds the kernel's counters to it). */
export function explainConnection(options: ExplainOptions): Explanation {
  const { cluster, stderr } = loadCluster(options.files, null, options.cluster, options.limits);
  const live = options.cluster !== undefined;
  const src = endpoint(options.from, cluster, options.namespace, live);
  const dst = endpoint(options.to, cluster, options.namespace, live);
  const family = options.family ?? ('ip' in src ? familyOf(src.ip)! : 'ip' in dst ? familyOf(dst.ip)! : 'IPv4');
  const verdict = decide(cluster.engine, { src, dst, port: options.port.port, protocol: options.port.protocol, family });
  // Pods by their full name, also when given without a namespace.
  const query = { from: 'pod' in src ? src.pod : src.ip, to: 'pod' in dst ? dst.pod : dst.ip, port: options.port, family };
  return { query, verdict, pods: { src: 'pod' in src ? src.pod : null, dst: 'pod' in dst ? dst.pod : null }, overLimit: overLimitNotes(cluster, verdict), stderr };
}

export function explainCommand(options: ExplainOptions): CommandResult {
  const { query, verdict, overLimit, stderr } = explainConnection(options);
  const stdout = options.output === 'text' ? explainText(query, verdict, overLimit) : structured({ ...query, ...verdict, overLimit }, options.output);
  return { stdout, stderr, code: 0 };
}

export interface RenderOptions {
  readonly files: readonly string[];
  readonly node: string;
  /** Older manifests: print the incremental transaction from their ruleset to this one. */
  readonly diff: readonly string[];
  readonly table: string;
  readonly denyAction: DenyAction;
  readonly limits?: PolicyLimits;
  /** The agent's --strict-mode and --deny-log, which add rules to the table. */
  readonly strictMode?: boolean;
  readonly denyLog?: DenyLogOptions;
}

/** The nft script nftpol would apply on a node: the full replacement, or the diff from older manifests. */
export function renderCommand(options: RenderOptions): CommandResult {
  const { cluster, stderr } = loadCluster(options.files, options.node, undefined, options.limits);
  if (cluster.engine.localPods().size === 0) {
    const nodes = [...new Set([...cluster.engine.allPods()].map((p) => p.node).filter(Boolean))].sort();
    throw new UsageError(`no pod of the manifests runs on node "${options.node}" (nodes: ${nodes.join(', ') || 'none'}; set spec.nodeName)`);
  }
  const table = { table: options.table, denyAction: options.denyAction, ...(options.strictMode ? { strictMode: true } : {}), ...(options.denyLog ? { denyLog: options.denyLog } : {}) };
  const desired = compileTable(cluster.engine, table);
  if (options.diff.length === 0) return { stdout: renderFull(desired, table), stderr, code: 0 };
  const older = loadCluster(options.diff, options.node, undefined, options.limits);
  const script = renderDiff(compileTable(older.cluster.engine, table), desired, table);
  return { stdout: script === '' ? '# no change\n' : script, stderr: stderr + older.stderr, code: 0 };
}
