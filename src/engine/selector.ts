// Label selector semantics (matchLabels AND matchExpressions) and the canonical forms the engine uses to
// share identical selectors and to index them by the labels they require.
import { labelValue } from '../model/labels.js';
import type { LabelSelector, Labels } from '../model/types.js';
import type { ValueSet } from '../model/values.js';

/** Own keys only (never Object.prototype's); value lists searched, not scanned. */
export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const [key, wanted] of Object.entries(selector.matchLabels)) {
    if (labelValue(labels, key) !== wanted) return false;
  }
  for (const req of selector.matchExpressions) {
    const value = labelValue(labels, req.key);
    switch (req.operator) {
      case 'In':
        if (value === undefined || !req.values.has(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && req.values.has(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
    }
  }
  return true;
}

export function selectorIsEmpty(selector: LabelSelector): boolean {
  return Object.keys(selector.matchLabels).length === 0 && selector.matchExpressions.length === 0;
}

/**
 * A canonical string: equal for selectors that select the same way, whatever their key order. It holds
 * every value of the selector: callers compute it once per peer (see allowset.cachedPeerSetKey).
 */
export function selectorKey(selector: LabelSelector): string {
  const labels = Object.entries(selector.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const exprs = selector.matchExpressions
    .map((e) => [e.key, e.operator, [...e.values]] as const)
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return JSON.stringify([labels, exprs]);
}

/**
 * Index keys a label set can be found under: `k=v` for each label and `k` for each key. A selector is
 * filed under one key that every matching label set must have (see selectorAnchor).
 */
export function labelIndexKeys(labels: Labels): string[] {
  const keys: string[] = [];
  for (const [k, v] of Object.entries(labels)) keys.push(`${k}=${v}`, k);
  return keys;
}

/**
 * One index key that every label set matched by the selector carries, or null when the selector has no
 * positive requirement (empty, or only NotIn/DoesNotExist) and must be checked against everything.
 * `In` with one value is as good as matchLabels; `In` with several values or `Exists` anchors on the key.
 */
export function selectorAnchor(selector: LabelSelector): string | null {
  const labels = Object.entries(selector.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (labels.length > 0) return `${labels[0]![0]}=${labels[0]![1]}`;
  let keyAnchor: string | null = null;
  for (const req of selector.matchExpressions) {
    if (req.operator === 'In' && req.values.size === 1) return `${req.key}=${req.values.first()!}`;
    if ((req.operator === 'In' || req.operator === 'Exists') && keyAnchor === null) keyAnchor = req.key;
  }
  return keyAnchor;
}

/** Value lists longer than this are shortened in descriptions (a message must not cost what a list costs). */
const DESCRIBED_VALUES = 10;

function describeValues(values: ValueSet): string {
  const shown = [...values].slice(0, DESCRIBED_VALUES).join(',');
  return values.size > DESCRIBED_VALUES ? `${shown},... ${values.size - DESCRIBED_VALUES} more` : shown;
}

export function describeSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions) {
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${describeValues(e.values)})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${describeValues(e.values)})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
    }
  }
  return parts.length === 0 ? '{}' : parts.join(',');
}
