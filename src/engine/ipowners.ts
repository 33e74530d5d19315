// Which pod owns an IP. Terminal pods keep their IP in status while a new pod reuses it (k/k#92697), and
// a pod may report an IP before the old one is gone: when several live pods claim one IP, a Running pod
// wins, then the smallest `namespace/name`, so that every node decides alike.
import type { ObjectKey, Pod } from '../model/types.js';

/** Pods that may own an address: not hostNetwork (their IP is the node's) and not terminal. */
export function claimsIps(pod: Pod): boolean {
  return !pod.hostNetwork && pod.phase !== 'Succeeded' && pod.phase !== 'Failed';
}

function better(a: Pod, aKey: ObjectKey, b: Pod, bKey: ObjectKey): boolean {
  const aRunning = a.phase === 'Running';
  const bRunning = b.phase === 'Running';
  if (aRunning !== bRunning) return aRunning;
  return aKey < bKey;
}

export class IpOwnership {
  // One key in the common case, an array only while several pods claim the address.
  private readonly claims = new Map<string, ObjectKey | ObjectKey[]>();

  constructor(private readonly lookup: (key: ObjectKey) => Pod | undefined) {}

  owner(ip: string): ObjectKey | undefined {
    const claim = this.claims.get(ip);
    if (claim === undefined || typeof claim === 'string') return claim;
    let best: ObjectKey | undefined;
    let bestPod: Pod | undefined;
    for (const key of claim) {
      const pod = this.lookup(key);
      if (pod === undefined) continue;
      if (bestPod === undefined || better(pod, key, bestPod, best!)) {
        best = key;
        bestPod = pod;
      }
    }
    return best;
  }

  ownedIps(key: ObjectKey, pod: Pod): string[] {
    if (!claimsIps(pod)) return [];
    const owned = pod.ips.filter((ip) => this.owner(ip) === key);
    // Usually every address: share the pod's own array rather than keep a copy (100,000 pods, 14 MB).
    return owned.length === pod.ips.length ? (pod.ips as string[]) : owned.slice();
  }

  /** All pods claiming any of these addresses. */
  claimants(ips: Iterable<string>): Set<ObjectKey> {
    const out = new Set<ObjectKey>();
    for (const ip of ips) {
      const claim = this.claims.get(ip);
      if (claim === undefined) continue;
      if (typeof claim === 'string') out.add(claim);
      else for (const k of claim) out.add(k);
    }
    return out;
  }

  add(key: ObjectKey, ips: readonly string[]): void {
    for (const ip of ips) {
      const claim = this.claims.get(ip);
      if (claim === undefined) this.claims.set(ip, key);
      else if (typeof claim === 'string') {
        if (claim !== key) this.claims.set(ip, [claim, key]);
      } else if (!claim.includes(key)) claim.push(key);
    }
  }

  remove(key: ObjectKey, ips: readonly string[]): void {
    for (const ip of ips) {
      const claim = this.claims.get(ip);
      if (claim === undefined) continue;
      if (typeof claim === 'string') {
        if (claim === key) this.claims.delete(ip);
        continue;
      }
      const rest = claim.filter((k) => k !== key);
      this.claims.set(ip, rest.length === 1 ? rest[0]! : rest);
    }
  }
}
