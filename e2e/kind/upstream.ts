// Kubernetes' own NetworkPolicy e2e tests (test/e2e/network/netpol, the `e2e.test` binary of the cluster's
// version) against the runner's cluster, and their JUnit report read back per test. parseJunit and
// formatUpstream are pure (unit-tested); runUpstream runs the binary.
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The netpol tests' container: every spec in test/e2e/network/netpol is described under it. */
export const NETPOL_FOCUS = '\\[sig-network\\] Netpol';
/** SCTP specs, skipped by default: with the reason reported beside them. */
export const SCTP_SKIP = 'SCTPConnectivity';
export const SCTP_REASON = 'skipped: SCTP (--ginkgo.skip=SCTPConnectivity): this kernel has no SCTP sockets (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP): EPROTONOSUPPORT), so agnhost can neither serve nor probe SCTP';

export type TestStatus = 'passed' | 'failed' | 'skipped';

export interface UpstreamTest {
  readonly name: string;
  readonly status: TestStatus;
  readonly seconds: number;
  /** The failure's or the skip's message, first line. */
  readonly message?: string;
}

export interface UpstreamResult {
  readonly exitCode: number;
  readonly wallSeconds: number;
  readonly tests: readonly UpstreamTest[];
  readonly passed: readonly UpstreamTest[];
  readonly failed: readonly UpstreamTest[];
  readonly skipped: readonly UpstreamTest[];
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&#xA;|&#10;/g, '\n')
    .replace(/&amp;/g, '&');
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match ? unescapeXml(match[1]!) : undefined;
}

/**
 * The test cases of a Ginkgo v2 JUnit report whose name matches `only` (Ginkgo lists every spec of the
 * suite, those outside the focus as skipped with no message: `only` keeps the netpol ones). A spec that a
 * --ginkgo.skip filter removed is reported skipped with `skipReason` when given.
 */
export function parseJunit(xml: string, only: RegExp, skipReason?: (name: string) => string | undefined): UpstreamTest[] {
  const tests: UpstreamTest[] = [];
  const pattern = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let match = pattern.exec(xml); match; match = pattern.exec(xml)) {
    const tag = match[1]!;
    const body = match[3] ?? '';
    const name = (attribute(tag, 'name') ?? '').replace(/^\[It\] /, '');
    if (!only.test(name)) continue;
    const declared = attribute(tag, 'status');
    const failure = /<(failure|error)\b([^>]*)>([^<]*)/.exec(body);
    const skip = /<skipped\b([^>]*)\/?>/.exec(body);
    const status: TestStatus = failure || declared === 'failed' || declared === 'panicked' || declared === 'timedout' ? 'failed' : skip || declared === 'skipped' || declared === 'pending' ? 'skipped' : 'passed';
    // Ginkgo leaves a failure's message attribute empty and writes the message as the element's text.
    const raw = failure ? attribute(failure[2]!, 'message') || unescapeXml(failure[3] ?? '').trim() : skip ? attribute(skip[1]!, 'message') : undefined;
    const message = status === 'skipped' ? (skipReason?.(name) ?? raw) : raw;
    tests.push({ name, status, seconds: Number(attribute(tag, 'time') ?? 0), ...(message ? { message: message.split('\n')[0]!.trim() } : {}) });
  }
  return tests;
}

export function summarize(tests: readonly UpstreamTest[], exitCode: number, wallSeconds: number): UpstreamResult {
  return {
    exitCode,
    wallSeconds,
    tests,
    passed: tests.filter((t) => t.status === 'passed'),
    failed: tests.filter((t) => t.status === 'failed'),
    skipped: tests.filter((t) => t.status === 'skipped'),
  };
}

/** One line per test, then the totals. */
export function formatUpstream(result: UpstreamResult, label = 'upstream netpol'): string {
  const lines = result.tests.map((t) => `${t.status === 'passed' ? 'ok  ' : t.status === 'failed' ? 'FAIL' : 'skip'} ${t.name} (${t.seconds.toFixed(0)} s)${t.message && t.status !== 'passed' ? `\n     ${t.message}` : ''}`);
  lines.push(`${label}: ${result.tests.length} tests, ${result.passed.length} passed, ${result.failed.length} failed, ${result.skipped.length} skipped; ${result.wallSeconds.toFixed(0)} s wall (e2e.test exit ${result.exitCode})`);
  return lines.join('\n');
}

export interface UpstreamOptions {
  readonly e2eTest: string;
  readonly kubeconfig: string;
  readonly reportDir: string;
  /** A Ginkgo focus regexp within the netpol tests (default: all of them). */
  readonly focus?: string;
  /** Skip SCTP specs (default true: this kernel has no SCTP). */
  readonly skipSctp?: boolean;
  /** Where e2e.test's output goes (default: a log file in reportDir). */
  readonly output?: 'inherit' | 'file';
}

export async function runUpstream(options: UpstreamOptions): Promise<UpstreamResult> {
  rmSync(options.reportDir, { recursive: true, force: true });
  mkdirSync(options.reportDir, { recursive: true });
  const skipSctp = options.skipSctp ?? true;
  const args = [
    `--ginkgo.focus=${options.focus ?? NETPOL_FOCUS}`,
    ...(skipSctp ? [`--ginkgo.skip=${SCTP_SKIP}`] : []),
    '--ginkgo.no-color',
    '--provider=skeleton',
    `--kubeconfig=${options.kubeconfig}`,
    `--report-dir=${options.reportDir}`,
  ];
  const log = join(options.reportDir, 'e2e.log');
  const start = Date.now();
  const result = await execa(options.e2eTest, args, {
    reject: false,
    cwd: options.reportDir,
    stdin: 'ignore',
    ...(options.output === 'inherit' ? { stdio: 'inherit' as const } : { stdout: { file: log }, stderr: { file: log } }),
  });
  const wallSeconds = (Date.now() - start) / 1000;
  const reports = existsSync(options.reportDir) ? readdirSync(options.reportDir).filter((f) => /^junit.*\.xml$/.test(f)) : [];
  const only = /\[sig-network\] Netpol/;
  const reason = (name: string) => (skipSctp && name.includes(SCTP_SKIP) ? SCTP_REASON : undefined);
  const tests = reports.flatMap((f) => parseJunit(readFileSync(join(options.reportDir, f), 'utf8'), only, reason));
  // Ginkgo marks every spec outside the focus skipped: keep the focused ones (SCTP's among them).
  const focus = new RegExp(options.focus ?? NETPOL_FOCUS);
  const kept = tests.filter((t) => focus.test(t.name) || t.status !== 'skipped');
  return summarize(kept, result.exitCode ?? 1, wallSeconds);
}
