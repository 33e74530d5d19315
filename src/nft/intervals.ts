// An ipBlock as nft interval set elements: the CIDR minus its exceptions, as disjoint address ranges of
// one family. nft interval sets cannot subtract, so the subtraction happens here.
import { bigIntToIp, cidrRange, parseCidr } from '../model/ip.js';
import type { Family } from '../model/types.js';

export interface AddressRange {
  readonly family: Family;
  readonly first: string;
  readonly last: string;
}

/**
 * Disjoint ranges covering `cidr` minus every `except`, in address order. The holes are clipped to the
 * block, sorted and swept once: O(n log n) in the number of exceptions, because a tenant chooses that
 * number (cutting each hole out of every range left so far took 35 s for 32,000 of them).
 */
export function blockRanges(cidr: string, except: readonly string[]): AddressRange[] {
  const block = parseCidr(cidr);
  if (block === null) throw new Error(`internal: unparsable CIDR ${cidr}`);
  const [blockFirst, blockLast] = cidrRange(block);
  const holes: [bigint, bigint][] = [];
  for (const text of except) {
    const hole = parseCidr(text);
    if (hole === null || hole.family !== block.family) continue;
    const [holeFirst, holeLast] = cidrRange(hole);
    if (holeLast < blockFirst || holeFirst > blockLast) continue;
    holes.push([holeFirst > blockFirst ? holeFirst : blockFirst, holeLast < blockLast ? holeLast : blockLast]);
  }
  holes.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const ranges: AddressRange[] = [];
  const push = (first: bigint, last: bigint): void => {
    ranges.push({ family: block.family, first: bigIntToIp(first, block.family), last: bigIntToIp(last, block.family) });
  };
  // `next` is the first address not yet covered by a range or a hole; holes may overlap and nest.
  let next = blockFirst;
  for (const [holeFirst, holeLast] of holes) {
    if (holeFirst > next) push(next, holeFirst - 1n);
    if (holeLast >= next) next = holeLast + 1n;
  }
  if (next <= blockLast) push(next, blockLast);
  return ranges;
}

/** One nft set element for a range: a single address or `first-last`. */
export function rangeElement(range: AddressRange): string {
  return range.first === range.last ? range.first : `${range.first}-${range.last}`;
}
