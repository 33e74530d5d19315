// Transactions against the real nft in a network namespace made for the test: a full sync replaces a
// table left by an earlier run in one go; a failed transaction changes nothing and names its line; the
// next sync after a failure is full and repairs.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { PolicyEngine } from '../src/engine/engine.js';
import { Dataplane } from '../src/nft/dataplane.js';
import { nftCommand, NftError, type NftRunner } from '../src/nft/executor.js';

const ns = `nftpol${randomBytes(3).toString('hex')}-faults`;
const runner = nftCommand({ netns: ns });
const options = { table: 'nftpol', denyAction: 'drop' as const };

beforeAll(async () => {
  await execa('ip', ['netns', 'add', ns]);
});
afterAll(async () => {
  await execa('ip', ['netns', 'del', ns], { reject: false });
});

function engineWithIsolatedPod(): PolicyEngine {
  const engine = new PolicyEngine('n1');
  engine.upsertPod({ namespace: 'x', name: 'a', labels: {}, node: 'n1', ips: ['10.0.0.1'], phase: 'Running', hostNetwork: false, ports: [] });
  engine.upsertPolicy({ namespace: 'x', name: 'deny', podSelector: { matchLabels: {}, matchExpressions: [] }, ingress: [], egress: null });
  return engine;
}

test('a full sync replaces a stale table from an earlier run', async () => {
  await runner.apply('table inet nftpol {\n  set stale-set { type ipv4_addr; }\n  chain stale-chain {\n    drop\n  }\n}\n');
  const engine = engineWithIsolatedPod();
  const dataplane = new Dataplane(engine, runner, options);
  expect((await dataplane.sync(engine.takeChanges())).mode).toBe('full');
  const listing = (await runner.listTable('nftpol'))!;
  expect(listing).not.toContain('stale');
  expect(listing).toMatch(/10\.0\.0\.1 : jump in-[0-9a-f]{16}/);
  // Other tables are never touched.
  await runner.apply('table inet someone-else {\n  chain c {\n  }\n}\n');
  await dataplane.sync(engine.takeChanges());
  dataplane.requestFullSync();
  await dataplane.sync(engine.takeChanges());
  expect(await runner.listTable('someone-else')).toContain('chain c');
});

test('a failed transaction changes nothing, says which line, and the next sync is full', async () => {
  const before = await runner.listTable('nftpol');
  let error: unknown;
  try {
    await runner.apply('add element inet nftpol ingress-v4 { 10.0.0.9 : jump in-0000000000000000 }\nadd chain inet nftpol this-one-is-fine\nadd rule inet nftpol no-such-chain drop\n');
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(NftError);
  expect((error as NftError).message).toMatch(/^nft rejected line \d: .*\(/);
  expect(await runner.listTable('nftpol')).toBe(before);

  // The dataplane turns a failure into a full sync next time, which repairs whatever the kernel holds.
  const engine = engineWithIsolatedPod();
  let failNext = false;
  const flaky: NftRunner = {
    apply: (script) => {
      if (!failNext) return runner.apply(script);
      failNext = false;
      return Promise.reject(new NftError('nft rejected line 1: boom', 1, script.split('\n')[0], ''));
    },
    listTable: (table) => runner.listTable(table),
  };
  const dataplane = new Dataplane(engine, flaky, options);
  expect((await dataplane.sync(engine.takeChanges())).mode).toBe('full');
  engine.upsertPod({ namespace: 'x', name: 'b', labels: {}, node: 'n1', ips: ['10.0.0.2'], phase: 'Running', hostNetwork: false, ports: [] });
  failNext = true;
  await expect(dataplane.sync(engine.takeChanges())).rejects.toThrow('boom');
  await execa('ip', ['netns', 'exec', ns, 'nft', 'flush', 'ruleset']); // drift on top of the failure
  expect((await dataplane.sync(engine.takeChanges())).mode).toBe('full');
  const listing = (await runner.listTable('nftpol'))!;
  expect(listing).toMatch(/10\.0\.0\.1 : jump in-[0-9a-f]{16}/);
  expect(listing).toMatch(/10\.0\.0\.2 : jump in-[0-9a-f]{16}/);
});
