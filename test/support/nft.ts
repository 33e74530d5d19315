// Test doubles and helpers for the nft layer.
import { execa } from 'execa';
import type { NftRunner } from '../../src/nft/executor.js';
import { nftError } from '../../src/nft/executor.js';
import type { TableState } from '../../src/nft/state.js';

/** Records every script; can be told to fail the next apply, as nft would (nothing applied). */
export class RecordingRunner implements NftRunner {
  readonly scripts: string[] = [];
  failNext: string | null = null;

  async apply(script: string): Promise<void> {
    if (this.failNext !== null) {
      const stderr = this.failNext;
      this.failNext = null;
      throw nftError(script, stderr);
    }
    this.scripts.push(script);
  }

  async listTable(): Promise<string | null> {
    return null;
  }
}

/** A state as plain sorted data, for equality checks. */
export function plainState(state: TableState): unknown {
  return {
    sets: Object.fromEntries([...state.sets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, s]) => [k, { kind: s.kind, family: s.family, elements: [...s.elements].sort() }])),
    chains: Object.fromEntries([...state.chains].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, c]) => [k, c.rules])),
    maps: Object.fromEntries(Object.entries(state.maps).map(([k, m]) => [k, Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)))])),
  };
}

/** Checks a script with the real nft (`nft -c`) in a throwaway network namespace; returns nft's errors. */
export async function nftCheck(script: string): Promise<string> {
  const r = await execa('unshare', ['-n', 'nft', '-c', '-f', '-'], { input: script, reject: false });
  return r.exitCode === 0 ? '' : String(r.stderr) || `exit ${r.exitCode}`;
}
