// What the kernel did, for `nftpol explain --node`: the deny counters of the pods at both ends, read from
// the /metrics of the agent on each pod's node (nftpol_denied_packets_total). A counter counts every packet
// denied to (ingress) or from (egress) its pod, not only this connection's.
import { fetch } from 'undici';

export const DENIED_METRIC = 'nftpol_denied_packets_total';
export const DEFAULT_METRICS_PORT = 9745;
const READ_TIMEOUT_MS = 5_000;

export interface CounterRequest {
  readonly direction: 'ingress' | 'egress';
  /** namespace/name */
  readonly pod: string;
  readonly node: string;
  /** Whether policies isolate the pod in this direction (only then does it have a deny counter). */
  readonly isolated: boolean;
  /** The agent's /metrics URL. */
  readonly url: string | null;
}

export type CounterReading = CounterRequest & ({ readonly deniedPackets: number | null } | { readonly error: string });

/** `name{a="x",b="y"} 12` lines of the Prometheus text format, for one metric name. */
export function parseSamples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const samples: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const close = line.lastIndexOf('}');
    const labelText = close > 0 ? line.slice(name.length + 1, close) : '';
    // Label names come from whatever answers --metrics-url: built from own entries only, so that a label
    // named __proto__ or toString is data, never the prototype.
    const labels: Record<string, string> = Object.fromEntries(
      [...labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((match) => [match[1]!, match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))]),
    );
    const value = Number(line.slice(close > 0 ? close + 1 : name.length).trim().split(' ')[0]);
    if (Number.isFinite(value)) samples.push({ labels, value });
  }
  return samples;
}

/** The agent URL of a pod's node: an explicit --metrics-url, else http://<hostIP>:<port>/metrics. */
export function agentUrl(hostIP: string | null, port: number, override: string | undefined): string | null {
  if (override) return override;
  if (!hostIP) return null;
  return `http://${hostIP.includes(':') ? `[${hostIP}]` : hostIP}:${port}/metrics`;
}

/**
 * Reads each counter; one fetch per agent URL. `deniedPackets: null` means the agent has no counter for
 * the pod in that direction: it is not isolated there, or not on that agent's node.
 */
export async function readDenyCounters(requests: readonly CounterRequest[]): Promise<CounterReading[]> {
  const pages = new Map<string, Promise<string>>();
  const page = (url: string) => {
    let text = pages.get(url);
    if (!text) {
      text = fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) }).then(async (response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return response.text();
      });
      pages.set(url, text);
    }
    return text;
  };
  return Promise.all(
    requests.map(async (request): Promise<CounterReading> => {
      if (request.url === null) return { ...request, error: 'the pod has no status.hostIP; give --metrics-url' };
      try {
        const [namespace, name] = [request.pod.slice(0, request.pod.indexOf('/')), request.pod.slice(request.pod.indexOf('/') + 1)];
        const sample = parseSamples(await page(request.url), DENIED_METRIC).find(
          (s) => s.labels.namespace === namespace && s.labels.pod === name && s.labels.direction === request.direction,
        );
        return { ...request, deniedPackets: sample ? sample.value : null };
      } catch (error) {
        const cause = causeOf(error);
        return { ...request, error: `cannot read ${request.url}: ${error instanceof Error ? error.message : String(error)}${cause}` };
      }
    }),
  );
}

export function countersText(readings: readonly CounterReading[]): string {
  const lines = [`kernel: ${DENIED_METRIC}, read now from the agents`];
  for (const r of readings) {
    const side = r.direction === 'egress' ? `egress of ${r.pod} (packets it sent that were denied)` : `ingress of ${r.pod} (packets to it that were denied)`;
    const where = `on ${r.node || 'no node'}${r.url ? ` (${r.url})` : ''}`;
    const what =
      'error' in r
        ? `ERROR ${r.error}`
        : r.deniedPackets !== null
          ? `${r.deniedPackets} packets denied`
          : r.isolated
            ? "no deny counter on this agent: is it the pod's node, and has it synced?"
            : 'not isolated in this direction, so nothing is denied there';
    lines.push(`  ${side} ${where}: ${what}`);
  }
  if (readings.length === 0) lines.push('  no pod at either end: the counters are per pod');
  return lines.join('\n') + '\n';
}

/** fetch's own message is "fetch failed"; the reason (ECONNREFUSED, a TLS error) is its cause. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const text = typeof cause === 'object' && cause !== null && 'message' in cause ? String(cause.message) : '';
  return text ? `: ${text}` : '';
}
