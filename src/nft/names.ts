// Names of nftpol's own nft objects. Deterministic (the same pod or set gets the same name on every sync
// and every node) and safe: only [a-z0-9-] ever reaches an nft script, so namespace, pod, policy names and
// label values cannot inject syntax. A readable prefix helps people reading `nft list table`; the hash of
// the full identity keeps names unique after sanitizing and truncation.
import { createHash } from 'node:crypto';

/** nft accepts longer names; kube-proxy keeps under 240 too. Ours stay far shorter. */
export const NAME_MAX = 64;

function hash(identity: string): string {
  return createHash('sha256').update(identity).digest('hex').slice(0, 10);
}

function readable(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/g, '');
}

/** `<kind>-<readable identity>-<hash>`, e.g. `pod-in-default-web-1-3f2a9c01bd`. */
export function objectName(kind: string, identity: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(kind)) throw new Error(`internal: bad nft object kind ${kind}`);
  const room = NAME_MAX - kind.length - 12;
  const middle = readable(identity, room);
  return middle === '' ? `${kind}-${hash(identity)}` : `${kind}-${middle}-${hash(identity)}`;
}

/** True for names this module could have produced. */
export function isSafeName(name: string): boolean {
  return name.length <= NAME_MAX && /^[a-z][a-z0-9-]*$/.test(name);
}
