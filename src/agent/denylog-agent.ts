// The denied-connection log inside the agent: the NFLOG helper (restarted with backoff if it ends), the
// DenyLog that turns its packets into JSON lines, and the metrics. The agent runs this only with --deny-log.
import { Counter, type Registry } from 'prom-client';
import type { PolicyEngine } from '../engine/engine.js';
import { DENY_LOG_SNAPLEN, suppressedCounter, type DenyLogOptions } from '../nft/denylog.js';
import { DenyLog } from './denylog.js';
import type { Logger } from './log.js';
import { listenNflog, type NflogHandlers, type NflogSource } from './nflog.js';

export type NflogListen = (group: number, snaplen: number, handlers: NflogHandlers) => NflogSource;

const RESTART_MS = { initial: 1_000, max: 30_000 };

export interface DenyLogRuntime {
  readonly log: DenyLog;
  /** Resolves once the NFLOG group is bound (the first time), rejects if that failed. */
  readonly ready: Promise<void>;
  stop(): void;
}

export function startDenyLog(
  engine: PolicyEngine,
  options: DenyLogOptions,
  log: Logger,
  registry: Registry,
  /** The table's named counters, as last read (shared with the deny counters' reads). */
  readCounters: (() => Promise<Map<string, number> | undefined>) | null,
  listen: NflogListen = listenNflog,
): DenyLogRuntime {
  const reg = { registers: [registry] };
  const logged = new Counter({ name: 'nftpol_denied_connections_logged_total', help: 'Denied connection attempts written to the log (--deny-log), by the denying pod\'s namespace and direction.', labelNames: ['namespace', 'direction'], ...reg });
  const lost = new Counter({ name: 'nftpol_deny_log_lost_total', help: 'Times the kernel dropped denied-connection log messages because the agent read them too slowly.', ...reg });
  // The kernel's counters restart at zero when the table is recreated: added up by their increases.
  const lastKernel = new Map<string, number>();
  new Counter({
    name: 'nftpol_denied_connections_suppressed_total',
    help: 'Denied connection attempts the per-node rate limit (--deny-log-rate) kept out of the log, by direction (kernel counters).',
    labelNames: ['direction'],
    ...reg,
    async collect() {
      const counters = readCounters ? await readCounters() : undefined;
      for (const direction of ['ingress', 'egress'] as const) {
        this.inc({ direction }, 0);
        const now = counters?.get(suppressedCounter(direction));
        if (now === undefined) continue;
        const before = lastKernel.get(direction) ?? 0;
        this.inc({ direction }, now >= before ? now - before : now);
        lastKernel.set(direction, now);
      }
    },
  });
  const denyLog = new DenyLog(engine, {
    denied(entry, namespace) {
      logged.inc({ namespace, direction: entry.direction });
      log.info('denied connection', { ...entry });
    },
  });
  let source: NflogSource | null = null;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  let first: Promise<void> | null = null;
  const begin = (): void => {
    const current = listen(options.group, DENY_LOG_SNAPLEN, {
      packet: (packet) => denyLog.handle(packet),
      lost: () => {
        lost.inc();
        log.warn('denied-connection log: the kernel dropped log messages (the agent read too slowly)');
      },
      exited: (reason) => {
        if (stopped) return;
        failures++;
        const delay = Math.min(RESTART_MS.max, RESTART_MS.initial * 2 ** Math.min(failures - 1, 10));
        log.error('denied-connection log: the NFLOG listener ended; restarting', { reason, group: options.group, retryInMs: delay });
        timer = setTimeout(begin, delay);
        timer.unref();
      },
    });
    source = current;
    first ??= current.ready;
    void current.ready.then(
      () => {
        failures = 0;
        log.info('denied-connection log: listening', { group: options.group, ratePerSecond: options.ratePerSecond });
      },
      () => undefined,
    );
  };
  begin();
  return {
    log: denyLog,
    ready: first!,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      source?.stop();
    },
  };
}
