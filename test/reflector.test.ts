// The reflector on the API server double: paginated lists, then a watch from the list's resourceVersion.
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { Reflector } from '../src/watch/reflector.js';

test('lists in pages of 500, then watches from the resourceVersion of the list', async () => {
  const api = new ApiServerDouble();
  await api.start();
  try {
    for (let i = 0; i < 1200; i++) api.apply('Pod', { metadata: { namespace: 'x', name: `p${i}` } });
    const upserts: string[] = [];
    let synced = 0;
    const reflector = new Reflector('Pod', kubeListerWatchers(loadKubeConfig(api.kubeconfig), 500).Pod, {
      upsert: (o) => void upserts.push(o.metadata!.name!),
      delete: () => undefined,
      synced: () => void synced++,
      error: (e) => {
        throw e;
      },
    });
    reflector.start();
    const deadline = Date.now() + 5000;
    while (synced === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(synced).toBe(1);
    expect(new Set(upserts).size).toBe(1200);
    expect(api.requests.filter((r) => r.startsWith('GET /api/v1/pods?') && r.includes('limit=500')).length).toBe(3);
    api.apply('Pod', { metadata: { namespace: 'x', name: 'late' } });
    while (!upserts.includes('late') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(upserts).toContain('late');
    reflector.stop();
  } finally {
    await api.destroy();
  }
});
