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

/**
 * A fake nft that understands the statements renderDiff writes, on a plain model of the table: it checks
 * what an incremental transaction does, where `nft -c` checks only that nft accepts it.
 */
export class FakeTable {
  readonly sets = new Map<string, Set<string>>();
  readonly chains = new Map<string, string[]>();
  readonly maps = new Map<string, Map<string, string>>();

  static from(state: TableState): FakeTable {
    const fake = new FakeTable();
    for (const [name, set] of state.sets) fake.sets.set(name, new Set(set.elements));
    for (const [name, chain] of state.chains) fake.chains.set(name, [...chain.rules]);
    for (const [name, map] of Object.entries(state.maps)) fake.maps.set(name, new Map(map));
    return fake;
  }

  apply(script: string): void {
    for (const line of script.split('\n').filter(Boolean)) {
      const m = /^(add|delete|flush) (set|element|chain|rule|counter) inet \S+ (\S+)(?: (.*))?$/.exec(line);
      if (!m) throw new Error(`fake nft: cannot parse ${line}`);
      const [, verb, what, name, rest = ''] = m;
      const items = () => rest.replace(/^\{ | \}$/g, '').split(', ');
      const need = <T>(value: T | undefined): T => {
        if (value === undefined) throw new Error(`fake nft: ${line}: no such object`);
        return value;
      };
      if (what === 'counter') continue;
      if (what === 'set') verb === 'add' ? this.sets.set(name!, new Set()) : this.sets.delete(name!);
      else if (what === 'chain') verb === 'delete' ? this.chains.delete(name!) : this.chains.set(name!, []);
      else if (what === 'rule') need(this.chains.get(name!)).push(rest);
      else if (this.maps.has(name!)) {
        const map = this.maps.get(name!)!;
        for (const item of items()) {
          const [key, value] = item.split(' : ');
          if (verb === 'add') map.set(key!, value!.replace(/^jump /, '').replace(/^"(.*)"$/, '$1'));
          else if (!map.delete(key!)) throw new Error(`fake nft: ${line}: no element ${key}`);
        }
      } else {
        const set = need(this.sets.get(name!));
        for (const item of items()) {
          if (verb === 'add') set.add(item);
          else if (!set.delete(item)) throw new Error(`fake nft: ${line}: no element ${item}`);
        }
      }
    }
  }

  plain(): unknown {
    const sorted = <T>(m: Map<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
    return {
      sets: Object.fromEntries(sorted(this.sets).map(([k, s]) => [k, [...s].sort()])),
      chains: Object.fromEntries(sorted(this.chains)),
      maps: Object.fromEntries(sorted(this.maps).map(([k, m]) => [k, Object.fromEntries(sorted(m))])),
    };
  }
}
