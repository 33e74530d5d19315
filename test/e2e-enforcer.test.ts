// The runner's enforcer choice (ENFORCER, with AGENT=off as the older spelling) and how it knows that a peer
// (kube-router) has enforced the writes so far: from its klog lines around each full sync, since kube-router
// reports no resourceVersions.
import { PassThrough } from 'node:stream';
import type { ResultPromise } from 'execa';
import { CannotRun } from '../e2e/runner/backend.js';
import { enforcerFromEnv } from '../e2e/runner/enforcer.js';
import { durationMs, IDLE_MS, PeerProcess, QUIET_MS } from '../e2e/runner/peer-process.js';

describe('enforcerFromEnv', () => {
  it('reads ENFORCER, keeps AGENT=off as off, and defaults to nftpol', () => {
    expect(enforcerFromEnv({ ENFORCER: 'kube-router' })).toBe('kube-router');
    expect(enforcerFromEnv({ AGENT: 'off' })).toBe('off');
    expect(enforcerFromEnv({ ENFORCER: 'nftpol', AGENT: 'off' })).toBe('nftpol');
    expect(enforcerFromEnv({})).toBe('nftpol');
  });

  it('refuses an enforcer it does not know', () => {
    expect(() => enforcerFromEnv({ ENFORCER: 'calico' })).toThrow(CannotRun);
  });
});

describe('PeerProcess (kube-router)', () => {
  const peer = () => {
    const stderr = new PassThrough();
    const stdout = new PassThrough();
    const process = new PeerProcess('kube-router', { stderr, stdout } as unknown as ResultPromise);
    const log = async (message: string) => {
      stderr.write(`I1125 14:45:46.740678    2531 network_policy_controller.go:240] ${message}\n`);
      await new Promise((resolve) => setImmediate(resolve));
    };
    return { process, log };
  };

  it('has settled only after a full sync, once quiet after the last write and idle', async () => {
    const { process, log } = peer();
    const wrote = Date.now();
    expect(process.settledSince(wrote, wrote + QUIET_MS)).toBe(false); // no sync yet
    await log('Starting sync of iptables with version: 1795617946740674669');
    expect(process.syncing).toBe(true);
    expect(process.settledSince(wrote, Date.now() + QUIET_MS + IDLE_MS)).toBe(false); // still syncing
    await log('sync iptables took 48.039506ms');
    expect(process.syncs).toBe(1);
    expect(process.lastSyncMs).toBeCloseTo(48.04, 2);
    expect(process.settledSince(wrote, wrote + QUIET_MS - 1)).toBe(false); // the informers may not have the write yet
    expect(process.settledSince(wrote, Math.max(wrote + QUIET_MS, process.lastActivity + IDLE_MS))).toBe(true);
  });

  it('keeps a multi-line error value with its error', async () => {
    const { process } = peer();
    const stderr = (process.child as unknown as { stderr: PassThrough }).stderr;
    stderr.write('E1125 14:46:20.087479    4937 controller.go:925] "syncing" error=<\n\tnetlink receive: no such file or directory\n >\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(process.errors).toEqual(['"syncing" error=<; netlink receive: no such file or directory']);
  });
});

describe('durationMs', () => {
  it('reads Go durations', () => {
    expect(durationMs('48.039506ms')).toBeCloseTo(48.04, 2);
    expect(durationMs('1.5s')).toBe(1500);
    expect(durationMs('1m2s')).toBe(62000);
    expect(durationMs('850µs')).toBeCloseTo(0.85, 5);
  });
});
