// Running nft. Every transaction is one `nft -f -` with the script on stdin (execa, no shell), so the
// kernel applies all of it or none of it. A failure carries nft's message and the offending line.
import { execa } from 'execa';
import type { Transaction } from './operations.js';
import { TABLE_FAMILY } from './vocabulary.js';

export class NftError extends Error {
  override readonly name = 'NftError';
  constructor(
    message: string,
    /** 1-based line of the script nft complained about, when it said. */
    readonly line: number | undefined,
    /** That line's text. */
    readonly lineText: string | undefined,
    /** nft's whole error output. */
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** nft could not be run at all: the program is not on PATH (the node lacks nftables, or PATH is wrong). */
export class NftNotFoundError extends NftError {
  constructor(program: string) {
    super(`${program === 'ip' ? 'ip' : 'nft'} not found: "${program}" is not on PATH (${process.env.PATH ?? 'PATH unset'}); install ${program === 'ip' ? 'iproute2' : 'nftables'}`, undefined, undefined, '');
  }
}

/** Runs nft scripts and reads nftpol's table back; the real one and test doubles implement it. */
export interface NftRunner {
  /**
   * Applies one script as one transaction; rejects with NftError. When the script was written from
   * typed operations, they come along (a fake applies those; nft reads the script).
   */
  apply(script: string, transaction?: Transaction): Promise<void>;
  /** `nft list table inet <table>`, or null when the table does not exist. */
  listTable(table: string): Promise<string | null>;
  /** Packet counts of the named counters of the table (empty when the table does not exist). */
  listCounters?(table: string): Promise<Map<string, number>>;
}

/** Turns nft's stderr into an NftError that names the line of the script. */
export function nftError(script: string, stderr: string): NftError {
  // `nft -f -` names the script /dev/stdin; the session helper (session.ts) hands it over as /proc/self/fd/N.
  const match = /^(?:\/dev\/stdin|\/proc\/self\/fd\/\d+):(\d+):\d+(?:-\d+)?: Error: (.*)$/m.exec(stderr);
  if (!match) return new NftError(`nft failed: ${stderr.trim() || 'no message'}`, undefined, undefined, stderr);
  const line = Number(match[1]);
  const lineText = script.split('\n')[line - 1];
  return new NftError(`nft rejected line ${line}: ${match[2]}${lineText !== undefined ? ` (${lineText.trim().slice(0, 200)})` : ''}`, line, lineText, stderr);
}

/** Packet counts by counter name from `nft -j list counters`. */
export function parseCounters(json: string): Map<string, number> {
  const counters = new Map<string, number>();
  const items = (JSON.parse(json) as { nftables?: { counter?: { name: string; packets: number } }[] }).nftables ?? [];
  for (const item of items) if (item.counter) counters.set(item.counter.name, item.counter.packets);
  return counters;
}

export interface NftCommandOptions {
  /** The nft binary. */
  readonly nft?: string;
  /** Run inside this network namespace (`ip netns exec`), as the tests and the sandbox cluster do. */
  readonly netns?: string;
  /** Check only (`nft -c`): parse and validate in the kernel without committing. */
  readonly checkOnly?: boolean;
}

interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function nftCommand(options: NftCommandOptions = {}): NftRunner {
  const nft = options.nft ?? 'nft';
  const command = (args: string[]): [string, string[]] => (options.netns ? ['ip', ['netns', 'exec', options.netns, nft, ...args]] : [nft, args]);
  /**
   * Runs nft; the one place that tells "nft could not be started" from "nft ran and failed", for every
   * caller: otherwise a missing binary reads as "nft failed: no message", or as a missing table.
   */
  const run = async (args: string[], input?: string): Promise<RunResult> => {
    const [file, argv] = command(args);
    const result = await execa(file, argv, { reject: false, ...(input !== undefined ? { input } : {}) });
    const stderr = String(result.stderr);
    // execa's spawn error (for nft, or for ip), or `ip netns exec`'s own message when it cannot exec nft.
    if (result.code === 'ENOENT') throw new NftNotFoundError(file);
    if (options.netns !== undefined && stderr.includes(`exec of "${nft}" failed: No such file`)) throw new NftNotFoundError(nft);
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr };
  };
  return {
    async apply(script) {
      const result = await run([...(options.checkOnly ? ['-c'] : []), '-f', '-'], script);
      if (result.exitCode !== 0) throw nftError(script, result.stderr);
    },
    async listCounters(table) {
      const result = await run(['-j', 'list', 'counters', 'table', TABLE_FAMILY, table]);
      return result.exitCode === 0 ? parseCounters(result.stdout) : new Map<string, number>();
    },
    async listTable(table) {
      const result = await run(['list', 'table', TABLE_FAMILY, table]);
      if (result.exitCode === 0) return result.stdout;
      if (/No such file or directory/.test(result.stderr)) return null;
      throw new NftError(`nft list failed: ${result.stderr.trim()}`, undefined, undefined, result.stderr);
    },
  };
}
