// `nftpol agent` and `nftpol cleanup`: flags validated up front with a clear message, then the long-running
// agent (stopped cleanly by SIGTERM or SIGINT, leaving its rules in place) or the uninstall step.
import { Option } from 'commander';
import { Agent, type AgentConfig, type ListenAddress } from '../agent/agent.js';
import { readBridgeFacts } from '../agent/hostcheck.js';
import { jsonLogger, LEVELS, type Level, type Logger } from '../agent/log.js';
import type { DenyAction } from '../nft/compile.js';
import { DEFAULT_POLICY_LIMITS, POLICY_LIMIT_COUNTS, POLICY_LIMIT_FLAGS, policyLimitsProblems, type PolicyLimit, type PolicyLimits } from '../model/limits.js';
import { nftCommand, type NftRunner } from '../nft/executor.js';
import { renderDeleteTable } from '../nft/render.js';
import { nftSession } from '../nft/session.js';
import { tableRef } from '../nft/vocabulary.js';
import { kubeListerWatchers, loadKubeConfig } from '../watch/kube.js';
import { UsageError } from './offline.js';

/** `500ms`, `30s`, `5m`, `1h`. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!match) throw new UsageError(`"${text}" is not a duration: want a number with ms, s, m or h, e.g. 5m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** `host:port` or `:port`. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new UsageError(`"${text}" is not an address to listen on: want host:port or :port, e.g. :9745`);
  return { host: match[1] === '' ? '0.0.0.0' : match[1]!.replace(/^\[|\]$/g, ''), port };
}

export function parseLevel(text: string): Level {
  if (!(LEVELS as readonly string[]).includes(text)) throw new UsageError(`"${text}" is not a log level: want ${LEVELS.join(', ')}`);
  return text as Level;
}

/** Prometheus scrapes every node's agent, so /metrics listens on every address of the node. */
export const DEFAULT_METRICS_ADDRESS: ListenAddress = { host: '0.0.0.0', port: 9745 };
/** Only the kubelet's probes need these; the DaemonSet's probes set httpGet.host to 127.0.0.1 (hostNetwork). */
export const DEFAULT_HEALTHZ_ADDRESS: ListenAddress = { host: '127.0.0.1', port: 9746 };

/** A whole number of at least 1 (commander hands over text). */
export function parseCount(text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`"${text}" is not a count: want a whole number of at least 1`);
  return value;
}

/** The cost-limit flags as commander names their values (`--max-policy-rules` -> `maxPolicyRules`). */
export interface PolicyLimitFlags {
  readonly maxPolicyRules: number;
  readonly maxPolicyPeers: number;
  readonly maxPolicyPorts: number;
  readonly maxPolicyExcepts: number;
  readonly maxSelectorValues: number;
}

const LIMIT_OF_FLAG: Readonly<Record<keyof PolicyLimitFlags, PolicyLimit>> = {
  maxPolicyRules: 'maxRules',
  maxPolicyPeers: 'maxPeers',
  maxPolicyPorts: 'maxPorts',
  maxPolicyExcepts: 'maxExcepts',
  maxSelectorValues: 'maxSelectorValues',
};

/**
 * The cost-limit flags, declared once here: the agent and the offline commands take the same ones, so
 * that `nftpol explain` answers as an agent with those flags enforces.
 */
export function policyLimitOptions(): Option[] {
  return (Object.keys(LIMIT_OF_FLAG) as (keyof PolicyLimitFlags)[]).map((flag) => {
    const limit = LIMIT_OF_FLAG[flag];
    return new Option(`${POLICY_LIMIT_FLAGS[limit]} <n>`, `most ${POLICY_LIMIT_COUNTS[limit]} one NetworkPolicy may have; its rules beyond allow nothing`)
      .argParser(parseCount)
      .default(DEFAULT_POLICY_LIMITS[limit]);
  });
}

/** The limits the flags set, validated (every problem at once). */
export function policyLimitsOf(flags: Partial<PolicyLimitFlags>): PolicyLimits {
  const limits: Record<PolicyLimit, number> = { ...DEFAULT_POLICY_LIMITS };
  for (const [flag, limit] of Object.entries(LIMIT_OF_FLAG) as [keyof PolicyLimitFlags, PolicyLimit][]) {
    const value = flags[flag];
    if (value !== undefined) limits[limit] = value;
  }
  const problems = policyLimitsProblems(limits);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return limits;
}

export interface AgentFlags extends PolicyLimitFlags {
  readonly nodeName?: string;
  readonly kubeconfig?: string;
  readonly table: string;
  readonly denyAction: DenyAction;
  readonly metricsBindAddress?: ListenAddress;
  readonly healthzBindAddress?: ListenAddress;
  /** Deprecated: one address for /metrics and the probes, as the agent had before the two flags above. */
  readonly listen?: ListenAddress;
  readonly counterReadInterval: number;
  readonly fullResyncPeriod: number;
  readonly apiUnreachableGrace: number;
  readonly watchStallTimeout: number;
  readonly logLevel: Level;
  readonly nftRunner?: NftRunnerChoice;
  readonly strictMode?: boolean;
  readonly denyLog?: boolean;
  readonly denyLogRate?: number;
  readonly denyLogGroup?: number;
}

/** How transactions reach the kernel: see src/nft/session.ts for why a long-lived helper is the default. */
export const NFT_RUNNERS = ['auto', 'session', 'exec'] as const;
export type NftRunnerChoice = (typeof NFT_RUNNERS)[number];

/**
 * The runner the flag asks for. `auto` takes the libnftables helper when it starts (python3 with ctypes and
 * libnftables.so.1 present), else one nft process per transaction, and says which in the log.
 */
export async function chooseNftRunner(choice: NftRunnerChoice, log: Logger): Promise<{ runner: NftRunner; close(): void }> {
  if (choice === 'exec') return { runner: nftCommand(), close: () => undefined };
  const session = nftSession();
  try {
    await session.start();
    log.info('nft transactions go through one libnftables helper process', { nftRunner: 'session', pid: session.helperPid() });
    return { runner: session, close: () => session.close() };
  } catch (error) {
    session.close();
    if (choice === 'session') throw new UsageError(`--nft-runner session: ${(error as Error).message}`);
    log.warn('the libnftables helper did not start: one nft process per transaction instead (slower)', { nftRunner: 'exec', reason: (error as Error).message });
    return { runner: nftCommand(), close: () => undefined };
  }
}

/** A whole number within bounds, for numeric flags. */
export function parseIntIn(name: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min || n > max) throw new UsageError(`${name} "${text}": want a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Logged denied connections per second per node, by default: enough to see what is blocked, bounded CPU. */
export const DEFAULT_DENY_LOG_RATE = 20;
/** NFLOG groups are per node (network namespace); this one is the metrics port, unlikely to be taken. */
export const DEFAULT_DENY_LOG_GROUP = 9745;

export function agentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv): AgentConfig {
  const nodeName = flags.nodeName ?? env.NODE_NAME;
  if (!nodeName) throw new UsageError('which node? give --node-name or set NODE_NAME (the DaemonSet sets it from spec.nodeName)');
  if (flags.fullResyncPeriod < 1000) throw new UsageError('--full-resync-period must be at least 1s');
  if (flags.listen && (flags.metricsBindAddress || flags.healthzBindAddress)) {
    throw new UsageError('--listen (deprecated) cannot be combined with --metrics-bind-address or --healthz-bind-address: drop --listen');
  }
  const metricsAddress = flags.metricsBindAddress ?? flags.listen ?? DEFAULT_METRICS_ADDRESS;
  const healthzAddress = flags.healthzBindAddress ?? flags.listen ?? DEFAULT_HEALTHZ_ADDRESS;
  // One port on two hosts would fail at bind time (a wildcard covers the other), after the agent began.
  if (metricsAddress.port === healthzAddress.port && metricsAddress.port !== 0 && metricsAddress.host !== healthzAddress.host) {
    throw new UsageError(`--metrics-bind-address and --healthz-bind-address use port ${metricsAddress.port} on different hosts: give them different ports, or the same address for one server`);
  }
  // The API server sends every watch a bookmark about once a minute: a shorter timeout would restart quiet, healthy watches.
  if (flags.watchStallTimeout < 70_000) throw new UsageError('--watch-stall-timeout must be at least 70s (the API server sends a bookmark about once a minute)');
  return {
    nodeName,
    table: flags.table,
    denyAction: flags.denyAction,
    metricsAddress,
    healthzAddress,
    counterReadIntervalMs: flags.counterReadInterval,
    fullResyncPeriodMs: flags.fullResyncPeriod,
    apiUnreachableGraceMs: flags.apiUnreachableGrace,
    watchStallTimeoutMs: flags.watchStallTimeout,
    policyLimits: policyLimitsOf(flags),
    ...(flags.strictMode ? { strictMode: true } : {}),
    ...(flags.denyLog ? { denyLog: { group: flags.denyLogGroup ?? DEFAULT_DENY_LOG_GROUP, ratePerSecond: flags.denyLogRate ?? DEFAULT_DENY_LOG_RATE } } : {}),
  };
}

export async function runAgent(flags: AgentFlags): Promise<void> {
  const config = agentConfig(flags, process.env);
  const log = jsonLogger(flags.logLevel);
  if (flags.listen) log.warn('--listen is deprecated: use --metrics-bind-address and --healthz-bind-address (it sets both, so one server serves /metrics and the probes)');
  let kc;
  try {
    kc = loadKubeConfig(flags.kubeconfig);
  } catch (error) {
    throw new UsageError(`cannot load the Kubernetes configuration (${flags.kubeconfig ? `--kubeconfig ${flags.kubeconfig}` : 'in-cluster'}): ${(error as Error).message}`);
  }
  const nft = await chooseNftRunner(flags.nftRunner ?? 'auto', log);
  const agent = new Agent(config, { sources: kubeListerWatchers(kc), runner: nft.runner, log, bridgeFacts: () => readBridgeFacts() });
  // The handlers come before start(): the agent may already answer /readyz while start() still awaits its
  // host checks, and a SIGTERM then must still stop it cleanly (exit 0, rules kept), not kill it.
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await agent.start();
  const signal = await stopped;
  log.info('shutting down', { signal });
  await agent.stop();
  nft.close();
}

/** Uninstall: removes nftpol's table (and nothing else). */
export async function runCleanup(table: string): Promise<string> {
  const runner = nftCommand();
  if ((await runner.listTable(table)) === null) return `no table ${tableRef(table)}: nothing to remove\n`;
  await runner.apply(renderDeleteTable(table));
  return `removed table ${tableRef(table)}\n`;
}
