// The long-lived libnftables helper (src/nft/session.ts) against `nft -f` (src/nft/executor.ts), each in a
// network namespace of its own: the same syncs leave the same table, a failed transaction changes nothing
// and names the same line, a helper that dies fails what it had in flight and the next request starts a new
// one, and an interpreter that cannot run the helper is a clear error.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { PolicyEngine } from '../src/engine/engine.js';
import { Dataplane } from '../src/nft/dataplane.js';
import { nftCommand, NftError, type NftRunner } from '../src/nft/executor.js';
import { chooseNftRunner } from '../src/cli/agent-command.js';
import { nftSession, type NftSession } from '../src/nft/session.js';

const prefix = `nftpol${randomBytes(3).toString('hex')}`;
const execNs = `${prefix}-exec`;
const sessionNs = `${prefix}-session`;
const options = { table: 'nftpol', denyAction: 'drop' as const };
const sessions: NftSession[] = [];

function session(extra: Parameters<typeof nftSession>[0] = {}): NftSession {
  const s = nftSession({ netns: sessionNs, ...extra });
  sessions.push(s);
  return s;
}

beforeAll(async () => {
  await execa('ip', ['netns', 'add', execNs]);
  await execa('ip', ['netns', 'add', sessionNs]);
});
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});
afterAll(async () => {
  await execa('ip', ['netns', 'del', execNs], { reject: false });
  await execa('ip', ['netns', 'del', sessionNs], { reject: false });
});

function pod(name: string, ip: string, labels: Record<string, string>, node = 'n1') {
  return { namespace: 'x', name, labels, node, ips: [ip], phase: 'Running' as const, hostNetwork: false, ports: [] };
}

/** One engine's syncs applied through both runners; the two tables must read back the same after each. */
async function syncBoth(steps: ((engine: PolicyEngine) => void)[], runners: [NftRunner, NftRunner]): Promise<string[]> {
  const engines = [new PolicyEngine('n1'), new PolicyEngine('n1')];
  const planes = engines.map((e, i) => new Dataplane(e, runners[i]!, options));
  const listings: string[] = [];
  for (const step of steps) {
    const results = [];
    for (let i = 0; i < 2; i++) {
      step(engines[i]!);
      results.push(await planes[i]!.sync(engines[i]!.takeChanges()));
    }
    expect(results[1]!.mode).toBe(results[0]!.mode);
    const [a, b] = await Promise.all(runners.map((r) => r.listTable('nftpol')));
    expect(b).toBe(a);
    listings.push(a!);
  }
  return listings;
}

test('the same full and incremental syncs leave the same table as nft -f', async () => {
  const listings = await syncBoth(
    [
      (e) => {
        e.upsertPod(pod('a', '10.0.0.1', { app: 'a' }));
        e.upsertPod(pod('b', '10.0.1.1', { app: 'b' }, 'n2'));
        e.upsertPolicy({ namespace: 'x', name: 'deny', podSelector: { matchLabels: {}, matchExpressions: [] }, ingress: [], egress: null });
      },
      (e) => e.upsertPolicy({ namespace: 'x', name: 'from-b', podSelector: { matchLabels: { app: 'a' }, matchExpressions: [] }, ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: { matchLabels: { app: 'b' }, matchExpressions: [] } }], ports: null }], egress: null }),
      (e) => e.upsertPod(pod('c', '10.0.1.2', { app: 'b' }, 'n2')),
      (e) => e.deletePolicy('x', 'from-b'),
    ],
    [nftCommand({ netns: execNs }), session()],
  );
  // The steps did change the table: the peer set grew with pod c, and went away with its policy.
  expect(listings[2]).toContain('10.0.1.2');
  expect(listings[3]).not.toContain('10.0.1.2');
});

test('a failed transaction changes nothing and names the line, as nft -f does', async () => {
  const runners = [nftCommand({ netns: execNs }), session()] as const;
  const script = 'add table inet nftpol-bad\nadd chain inet nftpol-bad c\nadd rule inet nftpol-bad c ip saddr @missing accept\n';
  const errors: NftError[] = [];
  for (const runner of runners) {
    const before = await runner.listTable('nftpol-bad');
    const error = await runner.apply(script).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftError);
    errors.push(error as NftError);
    expect(await runner.listTable('nftpol-bad')).toBe(before);
  }
  expect(errors[1]!.line).toBe(3);
  expect(errors[1]!.message).toBe(errors[0]!.message);
});

test('check-only validates without committing', async () => {
  const checker = session({ checkOnly: true });
  await checker.apply('table inet nftpol-checked {\n  chain c {\n  }\n}\n');
  expect(await session().listTable('nftpol-checked')).toBeNull();
  await expect(checker.apply('add rule inet nftpol-checked c bogus\n')).rejects.toBeInstanceOf(NftError);
});

test('counters read back as nft -j does', async () => {
  const runners = [nftCommand({ netns: execNs }), session()] as const;
  for (const runner of runners) await runner.apply('table inet nftpol-counted {\n  counter deny-a { packets 7 bytes 70 }\n}\n');
  const [a, b] = await Promise.all(runners.map((r) => r.listCounters!('nftpol-counted')));
  expect(b).toEqual(new Map([['deny-a', 7]]));
  expect(b).toEqual(a);
  expect(await runners[1].listCounters!('no-such-table')).toEqual(new Map());
});

test('a helper that dies fails the request in flight, and the next request starts a new helper', async () => {
  const s = session();
  await s.start();
  const first = s.helperPid();
  expect(first).toBeGreaterThan(0);
  // A large transaction keeps the helper busy while it is killed from outside.
  const elements = Array.from({ length: 60_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const big = `table inet nftpol-big {\n  set s {\n    type ipv4_addr;\n    elements = { ${elements.join(', ')} }\n  }\n}\n`;
  const inFlight = s.apply(big).catch((e: unknown) => e);
  process.kill(first!, 'SIGKILL');
  const error = await inFlight;
  expect(error).toBeInstanceOf(NftError);
  // Ended while the script was being written (EPIPE) or while nft ran: either way the request fails.
  expect((error as Error).message).toMatch(/nft session helper( ended|'s input failed)/);
  await s.apply('table inet nftpol-after {\n}\n');
  expect(s.helperPid()).not.toBe(first);
  expect(await s.listTable('nftpol-after')).toContain('table inet nftpol-after');
});

test('a request not answered in time ends the helper and fails', async () => {
  const s = session({ timeoutMs: 1 });
  const elements = Array.from({ length: 60_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const error = await s.apply(`table inet nftpol-slow {\n  set s {\n    type ipv4_addr;\n    elements = { ${elements.join(', ')} }\n  }\n}\n`).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(NftError);
  expect((error as Error).message).toMatch(/did not answer within 1 ms/);
});

test('an interpreter that cannot run the helper is a clear error, and nothing hangs', async () => {
  const s = session({ python: '/nonexistent-nftpol-python' });
  const error = await s.apply('table inet nftpol-never {\n}\n').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(NftError);
  expect((error as Error).message).toMatch(/nft session helper could not start/);
});

describe('the agent flag --nft-runner', () => {
  const logged: { level: string; msg: string }[] = [];
  const log = {
    debug: () => undefined,
    error: () => undefined,
    info: (msg: string) => void logged.push({ level: 'info', msg }),
    warn: (msg: string) => void logged.push({ level: 'warn', msg }),
  };
  const savedPath = process.env.PATH;
  const withoutPython = async <T>(call: () => Promise<T>): Promise<T> => {
    process.env.PATH = '/nonexistent-nftpol-test';
    try {
      return await call();
    } finally {
      process.env.PATH = savedPath;
    }
  };
  beforeEach(() => logged.splice(0));

  test('auto takes the helper when it starts, and says so', async () => {
    const chosen = await chooseNftRunner('auto', log);
    try {
      expect((chosen.runner as NftSession).helperPid?.()).toBeGreaterThan(0);
      expect(logged).toEqual([{ level: 'info', msg: expect.stringMatching(/libnftables helper/) }]);
    } finally {
      chosen.close();
    }
  });

  test('auto falls back to one nft process per transaction when the helper cannot start, with a warning', async () => {
    const chosen = await withoutPython(() => chooseNftRunner('auto', log));
    expect('helperPid' in chosen.runner).toBe(false);
    expect(logged).toEqual([{ level: 'warn', msg: expect.stringMatching(/did not start: one nft process per transaction/) }]);
  });

  test('session refuses to start without the helper rather than falling back', async () => {
    await expect(withoutPython(() => chooseNftRunner('session', log))).rejects.toThrow(/--nft-runner session: nft session helper could not start/);
  });
});
