// What one NetworkPolicy may cost every node. Any tenant who may write a NetworkPolicy in its own
// namespace makes every agent evaluate it, so its size is bounded; the defaults are far above any policy
// written by hand or by a tool (kube-network-policies' style: a config with defaults and a validation).

export interface PolicyLimits {
  /** Ingress plus egress rules. */
  readonly maxRules: number;
  /** `from`/`to` peers across all rules. */
  readonly maxPeers: number;
  /** `ports` entries across all rules. */
  readonly maxPorts: number;
  /** `except` entries across all ipBlocks. */
  readonly maxExcepts: number;
  /** Values across all In/NotIn requirements: podSelector, and peers' pod and namespace selectors. */
  readonly maxSelectorValues: number;
}

export type PolicyLimit = keyof PolicyLimits;

export const DEFAULT_POLICY_LIMITS: PolicyLimits = {
  maxRules: 1000,
  maxPeers: 1000,
  maxPorts: 1000,
  maxExcepts: 10_000,
  maxSelectorValues: 10_000,
};

/** The flag that sets each limit (src/cli/agent-command.ts), for messages. */
export const POLICY_LIMIT_FLAGS: Readonly<Record<PolicyLimit, string>> = {
  maxRules: '--max-policy-rules',
  maxPeers: '--max-policy-peers',
  maxPorts: '--max-policy-ports',
  maxExcepts: '--max-policy-excepts',
  maxSelectorValues: '--max-selector-values',
};

/** What each limit counts, for messages and help. */
export const POLICY_LIMIT_COUNTS: Readonly<Record<PolicyLimit, string>> = {
  maxRules: 'rules',
  maxPeers: 'from/to peers',
  maxPorts: 'ports entries',
  maxExcepts: 'ipBlock except entries',
  maxSelectorValues: 'In/NotIn selector values',
};

export const POLICY_LIMIT_NAMES: readonly PolicyLimit[] = ['maxRules', 'maxPeers', 'maxPorts', 'maxExcepts', 'maxSelectorValues'];

/** Every problem with the limits, one message each (empty when they are valid). */
export function policyLimitsProblems(limits: PolicyLimits): string[] {
  const problems: string[] = [];
  for (const name of POLICY_LIMIT_NAMES) {
    const value = limits[name];
    if (!Number.isSafeInteger(value) || value < 1) problems.push(`${POLICY_LIMIT_FLAGS[name]} must be a whole number of at least 1, not ${value}`);
  }
  return problems;
}
