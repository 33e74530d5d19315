// blockRanges (a sort and one sweep) against the repeated subtraction it replaced and against address-by-
// address membership, on random blocks and exceptions that overlap, nest, touch, lie outside the block
// or belong to the other family.
import fc from 'fast-check';
import { blockRangesByRepeatedSubtraction } from '../bench/intervals-reference.js';
import { ipToBigInt } from '../src/model/ip.js';
import { blockRanges } from '../src/nft/intervals.js';

// Everything lives in 4,096 addresses of each family, so random holes collide with the block and each other.
const v4 = (offset: number, prefix: number) => `10.0.${offset >> 8}.${offset & 255}/${prefix}`;
const v6 = (offset: number, prefix: number) => `fd00::${offset.toString(16)}/${prefix}`;
const offset = fc.integer({ min: 0, max: 4095 });
const v4Cidr = fc.tuple(offset, fc.integer({ min: 20, max: 32 })).map(([o, p]) => v4(o, p));
const v6Cidr = fc.tuple(offset, fc.integer({ min: 116, max: 128 })).map(([o, p]) => v6(o, p));
const noise = fc.constantFrom('not-a-cidr', '10.0.0.1', '300.0.0.0/8', 'fd00::/129');

function holes(sameFamily: fc.Arbitrary<string>, otherFamily: fc.Arbitrary<string>) {
  return fc.array(fc.oneof({ weight: 8, arbitrary: sameFamily }, { weight: 1, arbitrary: otherFamily }, { weight: 1, arbitrary: noise }), { maxLength: 60 });
}

const cases = fc.oneof(fc.tuple(v4Cidr, holes(v4Cidr, v6Cidr)), fc.tuple(v6Cidr, holes(v6Cidr, v4Cidr)));

describe('blockRanges', () => {
  test('equals the repeated subtraction on random inputs (IPv4 and IPv6)', () => {
    fc.assert(
      fc.property(cases, ([cidr, except]) => {
        expect(blockRanges(cidr, except)).toEqual(blockRangesByRepeatedSubtraction(cidr, except));
      }),
      { numRuns: 2000 },
    );
  });

  test('covers exactly the addresses in the block and in no exception of its family', () => {
    const v4Small = fc.tuple(offset, fc.integer({ min: 22, max: 32 })).map(([o, p]) => v4(o, p));
    fc.assert(
      fc.property(v4Small, holes(v4Cidr, v6Cidr), (cidr, except) => {
        const ranges = blockRanges(cidr, except).map((r) => [ipToBigInt(r.first), ipToBigInt(r.last)] as const);
        // Disjoint, in order, and not touching (a touching pair would be one range).
        for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0] > ranges[i - 1]![1] + 1n).toBe(true);
        const inCidr = (text: string, address: bigint): boolean => {
          const [base, prefix] = text.split('/') as [string, string];
          if (!/^10\.0\.\d+\.\d+$/.test(base) || !/^\d+$/.test(prefix) || Number(prefix) > 32) return false;
          const size = 1n << BigInt(32 - Number(prefix));
          return address / size === ipToBigInt(base) / size;
        };
        for (let a = ipToBigInt('10.0.0.0') - 16n; a <= ipToBigInt('10.0.15.255') + 16n; a++) {
          const expected = inCidr(cidr, a) && !except.some((e) => inCidr(e, a));
          expect(ranges.some(([first, last]) => a >= first && a <= last)).toBe(expected);
        }
      }),
      { numRuns: 60 },
    );
  });
});
