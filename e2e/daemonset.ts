// The agent's container as daemonset/daemonset.yaml declares it, so that the sandbox and the benchmarks
// run the agent exactly as the DaemonSet does (its arguments, its Node.js options).
import type { V1Container, V1DaemonSet } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the sources (e2e/) or the build (dist/e2e/). */
const ROOT = here.includes(join('dist', 'e2e')) ? join(here, '..', '..') : join(here, '..');

export function agentContainer(): V1Container {
  const manifest = parse(readFileSync(join(ROOT, 'daemonset', 'daemonset.yaml'), 'utf8')) as V1DaemonSet;
  const container = manifest.spec?.template.spec?.containers[0];
  if (!container?.args || container.args[0] !== 'agent') throw new Error('daemonset/daemonset.yaml: the container args do not start with "agent"');
  return container;
}

/** The Node.js options the DaemonSet gives the agent (NODE_OPTIONS), as separate arguments. */
export function agentNodeOptions(container: V1Container = agentContainer()): string[] {
  return (container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '').split(' ').filter(Boolean);
}

/** Where the DaemonSet's agent serves `flag`'s endpoints (`--metrics-bind-address`, `--healthz-bind-address`), as host:port. */
export function agentAddress(flag: '--metrics-bind-address' | '--healthz-bind-address', container: V1Container = agentContainer()): string {
  const arg = container.args!.find((a) => a.startsWith(`${flag}=`));
  if (!arg) throw new Error(`daemonset/daemonset.yaml: the agent has no ${flag}`);
  return arg.slice(flag.length + 1).replace(/^0\.0\.0\.0:/, '127.0.0.1:');
}
