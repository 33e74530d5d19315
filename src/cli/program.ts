// The nftpol command line: subcommands wired to their implementations, with --help for each. Built here,
// run by main.ts; tests read the agent's flags from it (the DaemonSet may pass only flags that exist).
import { Command, Option } from 'commander';
import { ScenarioError } from '../scenario/format.js';
import { DEFAULT_DENY_LOG_GROUP, NFT_RUNNERS, DEFAULT_DENY_LOG_RATE, parseDuration, parseIntIn, parseLevel, parseListen, policyLimitOptions, policyLimitsOf, runAgent, runCleanup, type AgentFlags, type PolicyLimitFlags } from './agent-command.js';
import { addClusterOptions, addKernelOptions, explainRun, matrixRun, type ExplainFlags, type MatrixFlags } from './cluster-commands.js';
import { ClusterError } from './live.js';
import {
  renderCommand,
  parseFamily,
  parsePortSpec,
  parseTableName,
  scenarioMatrixCommand,
  UsageError,
  type CommandResult,
  type PortSpec,
} from './offline.js';

function collect<T>(parse: (text: string) => T) {
  return (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
}

function withLimitOptions(command: Command): Command {
  for (const option of policyLimitOptions()) command.addOption(option);
  return command;
}

async function run(result: () => CommandResult | Promise<CommandResult>): Promise<void> {
  try {
    const { stdout, stderr, code } = await result();
    process.stderr.write(stderr);
    process.stdout.write(stdout);
    process.exitCode = code;
  } catch (error) {
    if (error instanceof UsageError || error instanceof ScenarioError) {
      process.stderr.write(`nftpol: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof ClusterError) {
      process.stderr.write(`nftpol: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

/** `nftpol`, or the kubectl plugin (`kubectl nftpol`: explain, matrix and render only). */
export function buildProgram(name: 'nftpol' | 'kubectl nftpol' = 'nftpol'): Command {
  const program = new Command(name)
    .description(name === 'nftpol' ? 'Kubernetes NetworkPolicy enforcement with nftables: agent and offline tools' : 'nftpol: why a connection is allowed or denied, from the live cluster or manifests')
    .showHelpAfterError()
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });

  addClusterOptions(program.command('matrix'), 'matrix')
    .description("print the connectivity truth table of the cluster's (or the manifests') pods: rows are sources, '.' allowed, 'X' denied")
    .option('-f, --filename <path>', 'manifest file or directory (repeatable): Pods, Namespaces, NetworkPolicies', collect(String), [])
    .option('-p, --port <port/protocol>', 'port to evaluate, e.g. 80/TCP (repeatable; default 80/TCP)', collect(parsePortSpec), [])
    .option('--family <family>', 'IPv4 or IPv6', parseFamily, 'IPv4')
    .option('--scenario <file>', 'evaluate a scenario file (../shared/scenarios/FORMAT.md) step by step instead of -f')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .action((opts: PolicyLimitFlags & Omit<MatrixFlags, 'files' | 'ports'> & { filename: string[]; port: PortSpec[]; scenario?: string }) =>
      run(() =>
        opts.scenario
          ? scenarioMatrixCommand(opts.scenario, opts.output)
          : matrixRun({ ...opts, files: opts.filename, ports: opts.port, limits: policyLimitsOf(opts) }),
      ),
    );

  addKernelOptions(addClusterOptions(program.command('explain'), 'explain'))
    .description('say whether one connection is allowed and why: which policies isolate each side, which rule allows it')
    .addOption(new Option('-f, --filename <path>', 'manifest file or directory (repeatable)').argParser(collect(String)).default([], 'none'))
    .requiredOption('--from <pod|ip>', 'source: namespace/pod (or pod, in the -n namespace) or an IP address')
    .requiredOption('--to <pod|ip>', 'destination: namespace/pod or an IP address')
    .addOption(new Option('-p, --port <port/protocol>', 'destination port, e.g. 53/UDP').argParser(parsePortSpec).default({ port: 80, protocol: 'TCP' }, '80/TCP'))
    .option('--family <family>', 'IPv4 or IPv6 (default: the family of an IP given, else IPv4)', parseFamily)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']).default('text'))
    .action((opts: PolicyLimitFlags & Omit<ExplainFlags, 'files' | 'family'> & { filename: string[]; family?: 'IPv4' | 'IPv6' }) =>
      run(() => explainRun({ ...opts, files: opts.filename, family: opts.family ?? null, limits: policyLimitsOf(opts) })),
    );

  program
    .command('render')
    .description('print the nft script nftpol applies on a node for the manifests (or, with --diff, the incremental transaction)')
    .addOption(new Option('-f, --filename <path>', 'manifest file or directory (repeatable)').argParser(collect(String)).default([], 'none'))
    .requiredOption('--node <name>', "the node whose pods' rules to render (spec.nodeName)")
    .addOption(new Option('--diff <path>', 'older manifests (repeatable): print only the transaction from them to -f').argParser(collect(String)).default([], 'none'))
    .option('--table <name>', 'nftables table name (inet family)', parseTableName, 'nftpol')
    .addOption(new Option('--deny-action <action>', 'what denied packets get').choices(['drop', 'reject']).default('drop'))
    .option('--strict-mode', "the rules the agent's --strict-mode adds")
    .option('--deny-log', "the rules the agent's --deny-log adds")
    .addOption(new Option('--deny-log-rate <n>', 'as the agent flag').argParser(parseIntIn('--deny-log-rate', 1, 100_000)).default(DEFAULT_DENY_LOG_RATE))
    .addOption(new Option('--deny-log-group <n>', 'as the agent flag').argParser(parseIntIn('--deny-log-group', 0, 65535)).default(DEFAULT_DENY_LOG_GROUP))
    .action((opts: PolicyLimitFlags & { filename: string[]; node: string; diff: string[]; table: string; denyAction: 'drop' | 'reject'; strictMode?: boolean; denyLog?: boolean; denyLogRate: number; denyLogGroup: number }) =>
      run(() =>
        renderCommand({
          files: opts.filename,
          node: opts.node,
          diff: opts.diff,
          table: opts.table,
          denyAction: opts.denyAction,
          limits: policyLimitsOf(opts),
          ...(opts.strictMode ? { strictMode: true } : {}),
          ...(opts.denyLog ? { denyLog: { group: opts.denyLogGroup, ratePerSecond: opts.denyLogRate } } : {}),
        }),
      ),
    );

  // Last, so that --help lists them after each command's own options; the plugin's commands too, so that
  // it answers as an agent with the same limits enforces.
  for (const command of ['matrix', 'explain', 'render']) withLimitOptions(program.commands.find((c) => c.name() === command)!);

  // The kubectl plugin answers questions; running the agent or removing its table is for nodes.
  if (name !== 'nftpol') return program;

  program
    .command('agent')
    .description('run the node agent: watch the cluster and keep this node\'s nftables table equal to its NetworkPolicies')
    .option('--node-name <name>', 'the node this agent serves (default: $NODE_NAME)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster service account)')
    .option('--table <name>', 'nftables table name (inet family)', parseTableName, 'nftpol')
    .addOption(new Option('--deny-action <action>', 'what denied packets get').choices(['drop', 'reject']).default('drop'))
    .addOption(new Option('--metrics-bind-address <host:port>', 'address for /metrics (default: 0.0.0.0:9745)').argParser(parseListen))
    .addOption(new Option('--healthz-bind-address <host:port>', 'address for /healthz and /readyz (default: 127.0.0.1:9746)').argParser(parseListen))
    .addOption(new Option('--listen <host:port>', 'deprecated: one address for /metrics, /healthz and /readyz').argParser(parseListen))
    .addOption(new Option('--counter-read-interval <duration>', 'read the nft deny counters for /metrics at most this often, however many scrapers').argParser(parseDuration).default(10_000, '10s'))
    .addOption(new Option('--full-resync-period <duration>', 'how often to check the table and rewrite it whole').argParser(parseDuration).default(300_000, '5m'))
    .addOption(new Option('--api-unreachable-grace <duration>', 'how long the API server may be unreachable before /readyz fails').argParser(parseDuration).default(120_000, '2m'))
    .addOption(new Option('--watch-stall-timeout <duration>', 'a watch without any event or bookmark for this long is restarted and counted as stalled').argParser(parseDuration).default(180_000, '3m'))
    .addOption(new Option('--log-level <level>', 'debug, info, warn or error').argParser(parseLevel).default('info'))
    .addOption(new Option('--nft-runner <how>', 'session: one long-lived libnftables helper (python3 with ctypes) applies every transaction; exec: one nft process per transaction; auto: session, else exec').choices([...NFT_RUNNERS]).default('auto'))
    .option('--strict-mode', 'a deny also ends connections that are already open (within 1 s of the change; needs the conntrack tool)')
    .option('--deny-log', 'log one JSON line per denied connection attempt (NFLOG; needs python3)')
    .addOption(new Option('--deny-log-rate <n>', 'log at most n denied connections per second per node; the rest are counted').argParser(parseIntIn('--deny-log-rate', 1, 100_000)).default(DEFAULT_DENY_LOG_RATE))
    .addOption(new Option('--deny-log-group <n>', 'the NFLOG group the kernel sends logged packets to').argParser(parseIntIn('--deny-log-group', 0, 65535)).default(DEFAULT_DENY_LOG_GROUP))
    .action(async (opts: AgentFlags) => {
      try {
        await runAgent(opts);
        // Stopped cleanly; idle keep-alive sockets of the HTTP client must not hold the process.
        process.exit(0);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        process.stderr.write(`nftpol: ${error.message}\n`);
        process.exitCode = 2;
      }
    });

  withLimitOptions(program.commands.find((c) => c.name() === 'agent')!);

  program
    .command('cleanup')
    .description("uninstall: remove nftpol's nftables table from this node (nothing else is touched)")
    .option('--table <name>', 'nftables table name (inet family)', parseTableName, 'nftpol')
    .action(async (opts: { table: string }) => {
      process.stdout.write(await runCleanup(opts.table));
    });

  return program;
}
