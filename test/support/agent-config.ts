// An in-process agent's configuration for tests: one node, nftpol's table, both endpoints on a free
// loopback port, no periodic resync during a test. Each test states only what it changes.
import type { AgentConfig } from '../../src/agent/agent.js';

export function testAgentConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    nodeName: 'node-0',
    table: 'nftpol',
    denyAction: 'drop',
    metricsAddress: { host: '127.0.0.1', port: 0 },
    healthzAddress: { host: '127.0.0.1', port: 0 },
    fullResyncPeriodMs: 3_600_000,
    apiUnreachableGraceMs: 60_000,
    ...overrides,
  };
}
