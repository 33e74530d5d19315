// The nft vocabulary of nftpol, in one place: every object name and name prefix, the one spelling of the
// address family and of the direction in names and rules, and the one hash that shortens names.
// Deterministic (the same pod or set gets the same name on every sync and every node) and safe: only
// [a-z0-9-] ever reaches an nft script, so namespace, pod, policy names and label values cannot inject
// syntax. All our objects live in nftpol's own table, so no name needs a `nftpol-` prefix (kube-proxy
// reasons the same way). test/nft-vocabulary.test.ts fails when a name is spelled anywhere else in src/.
import { createHash } from 'node:crypto';
import { familyOf } from '../model/ip.js';
import { DIRECTIONS, type Direction, type Family, type ObjectKey } from '../model/types.js';

/** The nft table family: one table serves IPv4 and IPv6. */
export const TABLE_FAMILY = 'inet';

/** A table as nft names it in commands and messages: `inet nftpol`. */
export function tableRef(table: string): string {
  return `${TABLE_FAMILY} ${table}`;
}

/** nft accepts longer names; kube-proxy keeps under 240 too. Ours stay far shorter. */
export const NAME_MAX = 64;

/**
 * Hex characters of the hashes in names. The lengths differ for history (the golden rulesets and every
 * table already in the field carry them): 10 beside a readable identity, which already tells most
 * names apart; 16 alone in a policy chain name, where the hash is the only identity.
 */
export const HASH_HEX = { objectName: 10, policyChain: 16 } as const;

/** The one hash that shortens names: the first `length` hex characters of the text's SHA-256. */
export function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

// ------------------------------------------------------------------------------- family and direction

/** The address family as it appears in nftpol's names (`-v4`, `-v6`). The one spelling in the nft layer. */
export type AddressFamily = 'v4' | 'v6';
export const FAMILIES: readonly AddressFamily[] = ['v4', 'v6'];

export function familyOfIp(ip: string): AddressFamily {
  return familyOf(ip) === 'IPv6' ? 'v6' : 'v4';
}

export function familyOfModel(family: Family): AddressFamily {
  return family === 'IPv6' ? 'v6' : 'v4';
}

/** The nft payload keyword of a family (`ip saddr`, `ip6 saddr`). */
export const IP_KEYWORD: Record<AddressFamily, 'ip' | 'ip6'> = { v4: 'ip', v6: 'ip6' };
/** The nft data type of a family's addresses. */
export const ADDR_TYPE = { v4: 'ipv4_addr', v6: 'ipv6_addr' } as const satisfies Record<AddressFamily, DataType>;

/** The short direction in names (`deny-in-...`, `out-<hash>`). */
const DIRECTION_TAG: Record<Direction, 'in' | 'out'> = { ingress: 'in', egress: 'out' };
export { DIRECTIONS } from '../model/types.js';

/** The address field of a packet that identifies the peer (`daddr` for egress) or the local pod. */
export function peerField(direction: Direction): 'saddr' | 'daddr' {
  return direction === 'egress' ? 'daddr' : 'saddr';
}
export function ownField(direction: Direction): 'saddr' | 'daddr' {
  return direction === 'egress' ? 'saddr' : 'daddr';
}

// ------------------------------------------------------------------------------------------ the names

function readable(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
}

/** `<kind>-<readable identity>-<hash>`, e.g. `deny-in-default-web-1-3f2a9c01bd`. */
export function objectName(kind: string, identity: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(kind)) throw new Error(`internal: bad nft object kind ${kind}`);
  const room = NAME_MAX - kind.length - HASH_HEX.objectName - 2;
  const middle = readable(identity, room);
  const hash = shortHash(identity, HASH_HEX.objectName);
  return middle === '' ? `${kind}-${hash}` : `${kind}-${middle}-${hash}`;
}

/** True for names this module could have produced. */
export function isSafeName(name: string): boolean {
  return name.length <= NAME_MAX && /^[a-z][a-z0-9-]*$/.test(name);
}

/** The netfilter hooks nftpol's base chains sit on (see render.ts for why those two). */
export type Hook = 'forward' | 'input';
/** The base chains, named after their hooks. */
export const BASE_CHAIN = { forward: 'forward', input: 'input' } as const satisfies Record<Hook, Hook>;

/** The data types of nftpol's sets and maps, and of each concatenation's components. */
export type DataType = 'ipv4_addr' | 'ipv6_addr' | 'inet_proto' | 'inet_service';

/** Dispatch maps: local pod address -> jump to its policy chain, per direction and family. */
export function dispatchMapName(direction: Direction, family: AddressFamily): DispatchMap {
  return `${direction}-${family}`;
}
/** Deny counter maps: local pod address -> its deny counter, per direction and family. */
export function counterMapName(direction: Direction, family: AddressFamily): CounterMap {
  return `deny-${DIRECTION_TAG[direction]}-${family}`;
}
export type DispatchMap = `${Direction}-${AddressFamily}`;
export type CounterMap = `deny-${'in' | 'out'}-${AddressFamily}`;
export type MapName = DispatchMap | CounterMap;
export const DISPATCH_MAPS: readonly DispatchMap[] = DIRECTIONS.flatMap((d) => FAMILIES.map((f) => dispatchMapName(d, f)));
export const COUNTER_MAPS: readonly CounterMap[] = DIRECTIONS.flatMap((d) => FAMILIES.map((f) => counterMapName(d, f)));
export const MAPS: readonly MapName[] = [...DISPATCH_MAPS, ...COUNTER_MAPS];

/** What a map is keyed by and holds: a family's addresses, and a verdict (dispatch) or a counter name. */
export interface MapSpec {
  readonly family: AddressFamily;
  readonly direction: Direction;
  readonly value: 'verdict' | 'counter';
}
const MAP_SPECS = new Map<MapName, MapSpec>(
  DIRECTIONS.flatMap((direction) =>
    FAMILIES.flatMap((family): [MapName, MapSpec][] => [
      [dispatchMapName(direction, family), { family, direction, value: 'verdict' }],
      [counterMapName(direction, family), { family, direction, value: 'counter' }],
    ]),
  ),
);
export function mapSpec(name: MapName): MapSpec {
  return MAP_SPECS.get(name)!;
}

/** The sets of `address . address` pairs that let a local pod reach itself (hairpin through a Service). */
export function selfSetName(family: AddressFamily): string {
  return `self-${family}`;
}
export const SELF_SETS: readonly string[] = FAMILIES.map(selfSetName);

/** A peer set of one family; the id is the engine's (a hash of the set's definition, [0-9a-f]). */
export function peerSetName(peerSetId: string, family: AddressFamily): string {
  return `peer-${peerSetId}-${family}`;
}

/** Parses a name made by peerSetName. */
export function parsePeerSetName(name: string): { id: string; family: AddressFamily } | null {
  const match = /^peer-([0-9a-f]+)-(v4|v6)$/.exec(name);
  return match ? { id: match[1]!, family: match[2] as AddressFamily } : null;
}

/** A policy chain is named by a hash of its rules, so local pods with the same allow-set share it. */
export function policyChainName(direction: Direction, rules: readonly string[]): string {
  return `${DIRECTION_TAG[direction]}-${shortHash(rules.join('\n'), HASH_HEX.policyChain)}`;
}

/** The named counter of one local pod's denied packets in one direction. */
export function denyCounterName(direction: Direction, pod: ObjectKey): string {
  return objectName(`deny-${DIRECTION_TAG[direction]}`, pod);
}

/** The node-wide token bucket of the denied-connection log. */
export const DENY_LOG_LIMIT = 'deny-log';

/** The chain a policy chain jumps to before its deny when the denied-connection log is on. */
export function denyLogChainName(direction: Direction): string {
  return `deny-log-${DIRECTION_TAG[direction]}`;
}

/** The named counter of denied connections the limit kept out of the log, per direction. */
export function suppressedCounterName(direction: Direction): string {
  return `deny-log-suppressed-${DIRECTION_TAG[direction]}`;
}

/** The NFLOG prefix of each direction, which is how the agent tells them apart. */
export const DENY_LOG_PREFIX: Record<Direction, string> = { ingress: 'nftpol-in', egress: 'nftpol-out' };
