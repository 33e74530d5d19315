// Reading manifests as users have them: files or directories of multi-document YAML (or JSON), `List`
// objects, the output of `kubectl get -o yaml`. Keeps each object's file and line for diagnostics.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { Diagnostic } from './diagnostics.js';

/** One Kubernetes object as written, with where it came from. */
export interface SourceObject {
  readonly file: string;
  readonly raw: Record<string, unknown>;
  /** Line of a path inside this object (1-based), for diagnostics; falls back to the object's line. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

export interface LoadedManifests {
  readonly objects: readonly SourceObject[];
  readonly diagnostics: readonly Diagnostic[];
}

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sourceObject(file: string, doc: Document, lines: LineCounter, prefix: readonly (string | number)[], raw: Record<string, unknown>): SourceObject {
  return {
    file,
    raw,
    lineOf(path) {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn([...prefix, ...path.slice(0, n)], true) as { range?: [number, number, number] } | undefined;
        if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0]).line;
      }
      return undefined;
    },
  };
}

/** Parses the text of one manifest file. Pure apart from naming the file in what it returns. */
export function parseManifests(text: string, file: string): LoadedManifests {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const objects: SourceObject[] = [];
  const diagnostics: Diagnostic[] = [];
  // parseAllDocuments returns an EmptyStream (not an array) for empty input.
  for (const doc of Array.isArray(docs) ? docs : []) {
    for (const error of doc.errors) {
      diagnostics.push({ level: 'error', file, line: error.linePos?.[0]?.line, message: `YAML: ${error.message.split('\n')[0]}` });
    }
    if (doc.errors.length > 0) continue;
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) {
      diagnostics.push({ level: 'warning', file, message: 'a document that is not a Kubernetes object was skipped' });
      continue;
    }
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      value.items.forEach((item: unknown, i: number) => {
        if (isRecord(item)) objects.push(sourceObject(file, doc, lines, ['items', i], item));
      });
    } else {
      objects.push(sourceObject(file, doc, lines, [], value));
    }
  }
  return { objects, diagnostics };
}

function expand(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => {
      const child = join(path, name);
      return statSync(child).isDirectory() ? expand(child) : MANIFEST_EXTENSIONS.test(name) ? [child] : [];
    });
}

/** Reads files and directories (recursively, *.yaml, *.yml, *.json, in name order). */
export function loadManifestFiles(paths: readonly string[]): LoadedManifests {
  const objects: SourceObject[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const path of paths) {
    let files: string[];
    try {
      files = expand(path);
    } catch (error) {
      diagnostics.push({ level: 'error', file: path, message: `cannot read: ${(error as Error).message}` });
      continue;
    }
    for (const file of files) {
      const loaded = parseManifests(readFileSync(file, 'utf8'), file);
      objects.push(...loaded.objects);
      diagnostics.push(...loaded.diagnostics);
    }
  }
  return { objects, diagnostics };
}
