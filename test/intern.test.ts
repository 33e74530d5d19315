// Pods of one workload share one copy of their labels and ports (src/model/intern.ts), and a shared copy
// cannot be changed through one pod behind the others' backs.
import { normalizePod } from '../src/model/normalize.js';
import { Interner } from '../src/model/intern.js';

const pod = (name: string, labels: Record<string, string>, port = 80) => ({
  metadata: { namespace: 'x', name, labels },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: port }] }] },
  status: { phase: 'Running', podIP: '10.0.0.1' },
});

test('pods with equal labels and ports share one frozen copy of each; different ones do not', () => {
  const a = normalizePod(pod('a', { app: 'web', tier: 'front' }));
  const b = normalizePod(pod('b', { app: 'web', tier: 'front' }));
  const c = normalizePod(pod('c', { app: 'web', tier: 'back' }, 8080));
  expect(b.labels).toBe(a.labels);
  expect(b.ports).toBe(a.ports);
  expect(c.labels).not.toBe(a.labels);
  expect(c.ports).not.toBe(a.ports);
  expect(c.labels).toEqual({ app: 'web', tier: 'back' });
  expect(c.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
  expect(() => ((a.labels as Record<string, string>).app = 'db')).toThrow(TypeError);
  expect(() => ((a.ports[0] as { port: number }).port = 1)).toThrow(TypeError);
  expect(b.labels.app).toBe('web');
});

test('the interner hands back the first value for a key and keeps the others out', () => {
  const interner = new Interner<{ v: number }>();
  const first = { v: 1 };
  expect(interner.intern('k', first)).toBe(first);
  expect(interner.intern('k', { v: 1 })).toBe(first);
  expect(interner.intern('other', { v: 2 })).toEqual({ v: 2 });
  expect(interner.size).toBe(2);
});
