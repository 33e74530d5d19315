// Label maps keyed by user text. `toString`, `constructor` and `valueOf` are valid label keys, so a label
// map is read only through Object.hasOwn (labelValue) and iterated only over its own entries: no lookup
// may answer from Object.prototype. The maps stay ordinary objects, built by define (spread,
// Object.fromEntries), never by assignment, so even a `__proto__` key is an own property; prototype-less
// objects would be safe too but V8 keeps them in dictionary mode, 217 bytes for two labels against 73-89,
// on every pod of the cluster.
import type { Labels } from './types.js';

/** A label map from entries, each an own property (a `__proto__` key included). */
export function labelMap(entries: Iterable<readonly [string, string]> = []): Labels {
  return Object.fromEntries(entries);
}

/** The value of a label, or undefined when the map does not itself carry the key. */
export function labelValue(labels: Labels, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}

// Kubernetes' rules (apimachinery/pkg/util/validation): a qualified name is `[prefix/]name`, the name at
// most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric, the prefix a DNS-1123 subdomain
// (at most 253 characters of lower-case labels joined by dots). A label value is empty or a valid name.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** User text in a message, cut short: a message must not cost what the text costs. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** Why `key` is not a valid label key, or null when it is. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== null && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `label key ${quoted(key)}: the prefix must be a DNS subdomain (lower-case a-z, 0-9, '-' and '.', at most 253 characters)`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `label key ${quoted(key)} is not a qualified name ([prefix/]name: the name 1-63 characters of A-Z, a-z, 0-9, '-', '_', '.', starting and ending with a letter or digit)`;
  }
  return null;
}

/** Why `value` is not a valid label value, or null when it is. */
export function labelValueProblem(value: string): string | null {
  if (value === '' || (value.length <= 63 && NAME.test(value))) return null;
  return `label value ${quoted(value)} is not valid (empty, or 1-63 characters of A-Z, a-z, 0-9, '-', '_', '.', starting and ending with a letter or digit)`;
}
