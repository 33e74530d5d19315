// The check for bridged pod traffic that would bypass nftpol. With a bridge CNI (minikube --cni=bridge),
// two pods on one node talk through a Linux bridge at layer 2: their packets never reach the IP forward
// hook where nftpol's table sits unless br_netfilter is loaded and bridge-nf-call-iptables (and
// -ip6tables) is 1, which makes bridged IPv4/IPv6 packets pass the IP hooks. Routed CNIs (kindnet's ptp,
// /32 routes) have no such bridge, and nothing to warn about.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface BridgeFacts {
  /** Bridges with at least one port (a bridge without ports carries no pod traffic). */
  readonly bridgesWithPorts: readonly string[];
  /** Values of net.bridge.bridge-nf-call-iptables and -ip6tables; null when br_netfilter is not loaded. */
  readonly callIptables: string | null;
  readonly callIp6tables: string | null;
}

/** What an operator must fix, or null when bridged traffic passes nftpol's hooks (or there is no bridge). */
export function bridgeBypass(facts: BridgeFacts): string | null {
  if (facts.bridgesWithPorts.length === 0) return null;
  const off = [
    ...(facts.callIptables === '1' ? [] : ['net.bridge.bridge-nf-call-iptables']),
    ...(facts.callIp6tables === '1' ? [] : ['net.bridge.bridge-nf-call-ip6tables']),
  ];
  if (off.length === 0) return null;
  const loaded = facts.callIptables !== null || facts.callIp6tables !== null;
  const fix = `${loaded ? '' : 'modprobe br_netfilter, then '}sysctl -w ${off.map((s) => `${s}=1`).join(' ')}`;
  return `pod traffic within bridge ${facts.bridgesWithPorts.join(', ')} is switched at layer 2 and bypasses nftpol's rules (same-node pod-to-pod connections are not enforced); on the node: ${fix}`;
}

async function readSetting(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return null;
  }
}

/** Reads the facts from /sys and /proc of the agent's network namespace (the node's: hostNetwork). */
export async function readBridgeFacts(root = '/'): Promise<BridgeFacts> {
  const net = join(root, 'sys', 'class', 'net');
  const interfaces = await readdir(net).catch(() => [] as string[]);
  const bridgesWithPorts: string[] = [];
  for (const name of interfaces.sort()) {
    const ports = await readdir(join(net, name, 'brif')).catch(() => null);
    if (ports !== null && ports.length > 0) bridgesWithPorts.push(name);
  }
  const bridge = join(root, 'proc', 'sys', 'net', 'bridge');
  return {
    bridgesWithPorts,
    callIptables: await readSetting(join(bridge, 'bridge-nf-call-iptables')),
    callIp6tables: await readSetting(join(bridge, 'bridge-nf-call-ip6tables')),
  };
}
