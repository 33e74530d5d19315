// What the agent logs when the API cannot be reached: the call and the network's reason, not undici's bare
// "fetch failed" (the reason, ECONNREFUSED here, is in its `cause`). Found with a real kube-apiserver
// killed under the agents (test/k8s-faults.test.ts): every retry logged only "fetch failed".
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';

test('a list and a watch that cannot connect name the call and the reason', async () => {
  const api = new ApiServerDouble();
  await api.start();
  const sources = kubeListerWatchers(loadKubeConfig(api.kubeconfig));
  await api.stop();
  try {
    await expect(sources.Pod.list(() => undefined)).rejects.toThrow(/^list \/api\/v1\/pods: fetch failed \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/);
    const ended = await new Promise<unknown>((resolve) => void sources.Namespace.watch('1', () => undefined, resolve));
    expect((ended as Error).message).toMatch(/^watch \/api\/v1\/namespaces: fetch failed \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/);
  } finally {
    await api.destroy();
  }
});
