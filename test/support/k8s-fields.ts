// Unknown fields in a Kubernetes object, found with the field lists that @kubernetes/client-node generates
// from the Kubernetes OpenAPI document. A misspelt field (`readOnlyRootFileSystem`) is not an error to
// the API server's schema, only a warning, and the setting silently does not apply: tests reject it.
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}

type Model = { getAttributeTypeMap(): Attribute[] };

function model(type: string): Model | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[type];
  return typeof candidate === 'function' && 'getAttributeTypeMap' in candidate ? (candidate as unknown as Model) : undefined;
}

/** Paths of the fields in `value` that its type (a client-node model name, e.g. V1DaemonSet) does not have. */
export function unknownFields(value: unknown, type: string, path = ''): string[] {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1]!, `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return value !== null && typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`)) : [];
  const m = model(type);
  if (!m || value === null || typeof value !== 'object') return [];
  const attributes = new Map(m.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const here = path === '' ? key : `${path}.${key}`;
    const fieldType = attributes.get(key);
    return fieldType === undefined ? [here] : unknownFields(v, fieldType, here);
  });
}
