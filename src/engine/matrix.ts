// The connectivity truth table the upstream e2e suite prints: rows are sources, one character per
// destination, '.' allowed, 'X' denied, '-' on the diagonal (a pod to itself is never probed).
import type { Family, ObjectKey, Protocol } from '../model/types.js';
import { decide } from './decide.js';
import type { PolicyEngine } from './engine.js';

export interface MatrixProbe {
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: Family;
}

export function connectivityMatrix(engine: PolicyEngine, pods: readonly ObjectKey[], probe: MatrixProbe): Record<ObjectKey, string> {
  const rows: Record<ObjectKey, string> = {};
  for (const src of pods) {
    let row = '';
    for (const dst of pods) {
      if (src === dst) {
        row += '-';
        continue;
      }
      const verdict = decide(engine, { src: { pod: src }, dst: { pod: dst }, port: probe.port, protocol: probe.protocol, family: probe.family });
      row += verdict.allowed ? '.' : 'X';
    }
    rows[src] = row;
  }
  return rows;
}

/** Prints a matrix as an aligned table with the probe in the corner, as upstream logs it. */
export function formatMatrix(title: string, pods: readonly ObjectKey[], rows: Readonly<Record<ObjectKey, string>>): string {
  const width = Math.max(title.length, ...pods.map((p) => p.length));
  const cell = Math.max(...pods.map((p) => p.length)) + 1;
  const pad = (text: string, n: number) => text + ' '.repeat(Math.max(0, n - text.length));
  const lines = [pad(title, width + 1) + pods.map((p) => pad(p, cell)).join('')];
  for (const src of pods) lines.push(pad(src, width + 1) + [...(rows[src] ?? '')].map((c) => pad(c, cell)).join(''));
  return lines.join('\n').replace(/ +$/gm, '');
}
