// Label selector semantics (matchLabels AND matchExpressions) and the canonical forms the engine uses to
// share identical selectors and to index them by the labels they require.
import type { LabelSelector, Labels } from '../model/types.js';

export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const key in selector.matchLabels) {
    if (labels[key] !== selector.matchLabels[key]) return false;
  }
  for (const req of selector.matchExpressions) {
    const value = labels[req.key];
    switch (req.operator) {
      case 'In':
        if (value === undefined || !req.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && req.values.includes(value)) return false;
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

/** A canonical string: equal for selectors that select the same way, whatever their key order. */
export function selectorKey(selector: LabelSelector): string {
  const labels = Object.keys(selector.matchLabels)
    .sort()
    .map((k) => [k, selector.matchLabels[k]]);
  const exprs = selector.matchExpressions
    .map((e) => [e.key, e.operator, [...new Set(e.values)].sort()] as const)
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return JSON.stringify([labels, exprs]);
}

/**
 * Index keys a label set can be found under: `k=v` for each label and `k` for each key. A selector is
 * filed under one key that every matching label set must have (see selectorAnchor).
 */
export function labelIndexKeys(labels: Labels): string[] {
  const keys: string[] = [];
  for (const k in labels) keys.push(`${k}=${labels[k]}`, k);
  return keys;
}

/**
 * One index key that every label set matched by the selector carries, or null when the selector has no
 * positive requirement (empty, or only NotIn/DoesNotExist) and must be checked against everything.
 * `In` with one value is as good as matchLabels; `In` with several values or `Exists` anchors on the key.
 */
export function selectorAnchor(selector: LabelSelector): string | null {
  const keys = Object.keys(selector.matchLabels).sort();
  if (keys.length > 0) return `${keys[0]}=${selector.matchLabels[keys[0]!]}`;
  let keyAnchor: string | null = null;
  for (const req of selector.matchExpressions) {
    if (req.operator === 'In' && req.values.length === 1) return `${req.key}=${req.values[0]}`;
    if ((req.operator === 'In' || req.operator === 'Exists') && keyAnchor === null) keyAnchor = req.key;
  }
  return keyAnchor;
}

export function describeSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions) {
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${e.values.join(',')})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${e.values.join(',')})`);
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
