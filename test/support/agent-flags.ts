// The agent's flags at their defaults, as commander hands them over, for tests that build a configuration.
import { policyLimitOptions, type AgentFlags, type PolicyLimitFlags } from '../../src/cli/agent-command.js';

const policyLimitDefaults = Object.fromEntries(policyLimitOptions().map((o) => [o.attributeName(), o.defaultValue as number])) as unknown as PolicyLimitFlags;

export const BASE_AGENT_FLAGS: AgentFlags = {
  nodeName: 'n',
  table: 'nftpol',
  denyAction: 'drop',
  counterReadInterval: 10_000,
  fullResyncPeriod: 300_000,
  apiUnreachableGrace: 120_000,
  watchStallTimeout: 180_000,
  logLevel: 'info',
  ...policyLimitDefaults,
};
