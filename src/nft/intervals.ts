// An ipBlock as nft interval set elements: the CIDR minus its exceptions, as disjoint address ranges of
// one family. nft interval sets cannot subtract, so the subtraction happens here.
import { bigIntToIp, cidrRange, parseCidr } from '../model/ip.js';
import type { Family } from '../model/types.js';

export interface AddressRange {
  readonly family: Family;
  readonly first: string;
  readonly last: string;
}

/** Disjoint ranges covering `cidr` minus every `except`, in address order. */
export function blockRanges(cidr: string, except: readonly string[]): AddressRange[] {
  const block = parseCidr(cidr);
  if (block === null) throw new Error(`internal: unparsable CIDR ${cidr}`);
  let ranges: [bigint, bigint][] = [cidrRange(block)];
  for (const text of except) {
    const hole = parseCidr(text);
    if (hole === null || hole.family !== block.family) continue;
    const [holeFirst, holeLast] = cidrRange(hole);
    ranges = ranges.flatMap(([first, last]): [bigint, bigint][] => {
      if (holeLast < first || holeFirst > last) return [[first, last]];
      const pieces: [bigint, bigint][] = [];
      if (holeFirst > first) pieces.push([first, holeFirst - 1n]);
      if (holeLast < last) pieces.push([holeLast + 1n, last]);
      return pieces;
    });
  }
  return ranges.map(([first, last]) => ({ family: block.family, first: bigIntToIp(first, block.family), last: bigIntToIp(last, block.family) }));
}

/** One nft set element for a range: a single address or `first-last`. */
export function rangeElement(range: AddressRange): string {
  return range.first === range.last ? range.first : `${range.first}-${range.last}`;
}
