// Which pods carry each index key ('k=v', 'k', 'ns:<namespace>', 'port:<name>'). Pods are numbered densely
// (ordinals, reused after a delete), and each key's pods are held by a small Set of ordinals or, once a key
// covers many pods, by a bitmap. A label such as `app` that every pod carries costs 100,000 hash-table
// entries as a Set (2.6 MB at 100,000 pods, several such keys per cluster) and 12.5 KB as a bitmap.
import type { ObjectKey } from '../model/types.js';

/** A key's pods switch to a bitmap at this many, and back to a Set below a quarter of it (no flapping). */
const BITMAP_FROM = 2048;
const SET_BELOW = BITMAP_FROM / 4;

class Bitmap {
  words = new Uint32Array(0);
  size = 0;

  has(ordinal: number): boolean {
    const word = ordinal >>> 5;
    return word < this.words.length && (this.words[word]! & (1 << (ordinal & 31))) !== 0;
  }

  add(ordinal: number): void {
    const word = ordinal >>> 5;
    if (word >= this.words.length) {
      const grown = new Uint32Array(Math.max(word + 1, this.words.length * 2));
      grown.set(this.words);
      this.words = grown;
    }
    const bit = 1 << (ordinal & 31);
    if ((this.words[word]! & bit) !== 0) return;
    this.words[word]! |= bit;
    this.size++;
  }

  delete(ordinal: number): void {
    if (!this.has(ordinal)) return;
    this.words[ordinal >>> 5]! &= ~(1 << (ordinal & 31));
    this.size--;
  }

  *[Symbol.iterator](): Generator<number> {
    for (let w = 0; w < this.words.length; w++) {
      let bits = this.words[w]!;
      while (bits !== 0) {
        const low = bits & -bits;
        yield w * 32 + (31 - Math.clz32(low));
        bits ^= low;
      }
    }
  }
}

type Members = Set<number> | Bitmap;

export class PodIndex {
  private readonly entries = new Map<string, Members>();
  private readonly keys: (ObjectKey | undefined)[] = [];
  private readonly free: number[] = [];

  /** A number for a new pod, to pass to add/remove; give it back with release() when the pod is gone. */
  ordinal(key: ObjectKey): number {
    const ordinal = this.free.pop() ?? this.keys.length;
    this.keys[ordinal] = key;
    return ordinal;
  }

  release(ordinal: number): void {
    this.keys[ordinal] = undefined;
    this.free.push(ordinal);
  }

  add(indexKey: string, ordinal: number): void {
    let members = this.entries.get(indexKey);
    if (members === undefined) this.entries.set(indexKey, (members = new Set()));
    members.add(ordinal);
    if (members instanceof Set && members.size >= BITMAP_FROM) {
      const bitmap = new Bitmap();
      for (const o of members) bitmap.add(o);
      this.entries.set(indexKey, bitmap);
    }
  }

  remove(indexKey: string, ordinal: number): void {
    const members = this.entries.get(indexKey);
    if (members === undefined) return;
    members.delete(ordinal);
    if (members.size === 0) this.entries.delete(indexKey);
    else if (members instanceof Bitmap && members.size < SET_BELOW) this.entries.set(indexKey, new Set(members));
  }

  has(indexKey: string): boolean {
    return this.entries.has(indexKey);
  }

  /** How many pods carry the key. */
  count(indexKey: string): number {
    return this.entries.get(indexKey)?.size ?? 0;
  }

  /** The pods that carry the key (empty when none). Safe to iterate while other keys change. */
  *pods(indexKey: string): Generator<ObjectKey> {
    const members = this.entries.get(indexKey);
    if (members === undefined) return;
    for (const ordinal of members) {
      const key = this.keys[ordinal];
      if (key !== undefined) yield key;
    }
  }
}
