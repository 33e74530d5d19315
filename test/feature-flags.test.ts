// The flags of strict mode and the denied-connection log: how they reach the agent's configuration and
// the table, that the table with them is valid for the real nft, and that without them it is unchanged.
import { agentConfig, type AgentFlags } from '../src/cli/agent-command.js';
import { renderCommand } from '../src/cli/offline.js';
import { buildProgram } from '../src/cli/program.js';
import { nftCheck } from './support/nft.js';
import { join } from 'node:path';
import { ROOT } from './support/paths.js';
import { BASE_AGENT_FLAGS } from './support/agent-flags.js';

const SEEDS = join(ROOT, 'examples', 'seeds');

const base: AgentFlags = BASE_AGENT_FLAGS;

test('--strict-mode and --deny-log reach the agent configuration, with the rate and group; off by default', () => {
  expect(agentConfig(base, {})).not.toHaveProperty('strictMode');
  expect(agentConfig(base, {})).not.toHaveProperty('denyLog');
  const on = agentConfig({ ...base, strictMode: true, denyLog: true, denyLogRate: 7, denyLogGroup: 12 }, {});
  expect(on.strictMode).toBe(true);
  expect(on.denyLog).toEqual({ group: 12, ratePerSecond: 7 });
  expect(agentConfig({ ...base, denyLog: true }, {}).denyLog).toEqual({ group: 9745, ratePerSecond: 20 });
});

const render = (extra: object) =>
  renderCommand({ files: [`${SEEDS}/pods.yaml`, `${SEEDS}/04-production-isolation.yaml`], node: 'node-0', diff: [], table: 'nftpol', denyAction: 'drop', ...extra }).stdout;

test('the table with both features is valid for nft, and without them it has none of their rules', async () => {
  const on = render({ strictMode: true, denyLog: { group: 9745, ratePerSecond: 20 } });
  expect(await nftCheck(on)).toBe('');
  expect(on).toMatch(/chain forward \{\n.*\n\s+ct mark and 0x20000000 == 0x20000000 meta l4proto tcp reject with tcp reset\n\s+ct mark and 0x20000000 == 0x20000000 drop\n\s+ct state established,related accept/);
  expect(on).toMatch(/ct state new jump deny-log-in\n\s+counter name ip daddr map @deny-in-v4/);
  const off = render({});
  expect(off).not.toMatch(/ct mark|deny-log|log group/);
  // Each feature alone adds only its own rules.
  expect(render({ strictMode: true })).not.toMatch(/deny-log/);
  expect(render({ denyLog: { group: 1, ratePerSecond: 1 } })).not.toMatch(/ct mark/);
});

test('a bad rate is refused with a clear message', async () => {
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  await expect(program.parseAsync(['node', 'nftpol', 'agent', '--node-name', 'n', '--deny-log', '--deny-log-rate', 'lots'])).rejects.toThrow(/--deny-log-rate "lots": want a whole number from 1 to 100000/);
});
