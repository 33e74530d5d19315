// Messages about the user's manifests, located by file, line and path, printed the way compilers do.

export type Level = 'error' | 'warning' | 'notice';

export interface Diagnostic {
  readonly level: Level;
  readonly file?: string;
  readonly line?: number;
  /** e.g. `NetworkPolicy default/allow-web` */
  readonly object?: string;
  /** e.g. `spec.ingress[0].from[0].ports` */
  readonly path?: string;
  readonly message: string;
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

/** The inverse of formatPath: `spec.ingress[0].from` to `['spec', 'ingress', 0, 'from']`. */
export function parsePath(path: string): (string | number)[] {
  return path
    .split(/[.[\]]+/)
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}` : ''}: ` : '';
  const what = [d.object, d.path].filter(Boolean).join(' ');
  return `${d.level}: ${where}${what ? `${what}: ` : ''}${d.message}`;
}
