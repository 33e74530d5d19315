// A peer enforcer's process on one node, followed through its log (klog, on stderr), since neither peer says
// which objects a sync had seen (nftpol's agent logs resourceVersions; kube-router and kube-network-policies
// do not).
// - kube-router (-v=3) logs "Starting sync of iptables with version: ..." and "sync iptables took ..." around
//   each full sync. Every relevant informer event requests one (a one-slot queue: a request during a sync
//   runs one more sync right after it). So: once the informers have had the event (QUIET_MS after the write)
//   and no sync runs or starts for IDLE_MS, every write so far is in its iptables and ipsets.
// - kube-network-policies logs "Syncing nftables rules", and "syncing nftables rules" with an error when
//   the kernel refuses its table; its readiness is the first sync that logged no error.
import type { ResultPromise } from 'execa';
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { PeerName } from './enforcer.js';

/** How long after a write kube-router's informers have surely delivered it (watch events take ms here). */
export const QUIET_MS = 250;
/** How long kube-router must stay without a sync for its queue to be empty (a queued sync starts at once). */
export const IDLE_MS = 50;

const KLOG = /^([IWEF])\d{4} [\d:.]+\s+\d+ [^\]]+\] (.*)$/;

export class PeerProcess {
  /** Full syncs finished (kube-router) or nft syncs that succeeded (kube-network-policies). */
  syncs = 0;
  syncing = false;
  /** When the last sync started or ended (ms, Date.now()). */
  lastActivity = 0;
  /** The last sync's own duration as the peer logged it, in ms (kube-router). */
  lastSyncMs = 0;
  readonly errors: string[] = [];
  /** The last lines of its log, for a failure's message. */
  readonly tail: string[] = [];

  constructor(
    readonly name: PeerName,
    readonly child: ResultPromise,
    logFile?: string,
  ) {
    const follow = (line: string) => {
      if (logFile) appendFileSync(logFile, `${line}\n`);
      this.tail.push(line);
      if (this.tail.length > 20) this.tail.shift();
      this.read(line);
    };
    createInterface({ input: child.stderr! }).on('line', follow);
    createInterface({ input: child.stdout! }).on('line', follow);
  }

  private read(line: string): void {
    // klog writes a multi-line value as `key=<`, tab-indented lines, then ` >`: they belong to the last error.
    if (line.startsWith('\t') && this.errors.length > 0) {
      this.errors[this.errors.length - 1] += `; ${line.trim()}`;
      return;
    }
    const entry = KLOG.exec(line);
    const severity = entry?.[1];
    const message = entry?.[2] ?? line;
    if (severity === 'E' || severity === 'F') this.errors.push(message);
    if (this.name === 'kube-router') {
      if (message.startsWith('Starting sync of iptables')) {
        this.syncing = true;
        this.lastActivity = Date.now();
      } else if (message.startsWith('sync iptables took')) {
        this.syncing = false;
        this.syncs++;
        this.lastActivity = Date.now();
        this.lastSyncMs = durationMs(message.slice('sync iptables took '.length));
      }
    } else if (message.includes('Syncing nftables rules')) {
      this.syncing = true;
      this.lastActivity = Date.now();
    } else if (message.includes('syncing nftables rules') && message.includes('error')) {
      this.syncing = false;
      this.errors.push(message);
    }
  }

  /** kube-router: every write made before `lastWriteAt` is enforced (see the header). */
  settledSince(lastWriteAt: number, now = Date.now()): boolean {
    return this.syncs > 0 && !this.syncing && now - lastWriteAt >= QUIET_MS && now - this.lastActivity >= IDLE_MS;
  }
}

/** A Go duration as klog prints it (1.234ms, 2.5s, 850µs, 1m2.1s) in ms. */
export function durationMs(text: string): number {
  let total = 0;
  for (const [, value, unit] of text.trim().matchAll(/([\d.]+)(ns|µs|us|ms|s|m|h)/g)) {
    const scale = { ns: 1e-6, µs: 1e-3, us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[unit as 'ms'];
    total += Number(value) * scale;
  }
  return total;
}
