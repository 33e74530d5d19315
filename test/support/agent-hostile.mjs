// The built `nftpol agent` with the real nft, in the network namespace this script runs in (the test starts
// it under `unshare -n`), against the API double holding hostile objects (issue 9): label keys that are
// JavaScript built-in names, a pod address with an IPv6 zone, a pod with an invalid label key, and a policy
// over a cost limit. Prints the table, the metrics and the log as JSON.
import { execa } from 'execa';
import { ApiServerDouble } from '../../dist/e2e/apiserver/double.js';

const pod = (name, labels, ips) => ({
  metadata: { namespace: 'x', name, labels },
  spec: { nodeName: 'n1', containers: [] },
  status: { phase: 'Running', podIPs: ips.map((ip) => ({ ip })) },
});

await execa('ip', ['link', 'set', 'lo', 'up']);
const api = new ApiServerDouble();
await api.start();
api.apply('Namespace', { metadata: { name: 'x' } });
api.apply('Pod', pod('a', { app: 'a' }, ['10.0.0.1']));
api.apply('Pod', pod('b', { app: 'b' }, ['10.0.0.2']));
api.apply('Pod', pod('zoned', { app: 'z' }, ['10.0.0.3', 'fe80::1%eth0']));
api.apply('Pod', pod('labelled', { constructor: 'yes' }, ['10.0.0.4']));
api.apply('Pod', pod('bad-label', { 'not a key!': 'x' }, ['10.0.0.5']));
// Selects every pod of x: none carries a `toString` label.
api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: { matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] } } });
// Selects the pod with a zoned address by an ordinary label, whatever the built-in names do.
api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'isolate-zoned' }, spec: { podSelector: { matchLabels: { app: 'z' } } } });
// Admits only pods that carry a `constructor` label.
api.apply('NetworkPolicy', {
  metadata: { namespace: 'x', name: 'from-constructor' },
  spec: { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] } }] }] },
});
// Three rules; the agent runs with --max-policy-rules 2.
api.apply('NetworkPolicy', {
  metadata: { namespace: 'x', name: 'big' },
  spec: { podSelector: { matchLabels: { app: 'b' } }, ingress: [{ ports: [{ port: 1 }] }, { ports: [{ port: 2 }] }, { ports: [{ port: 3 }] }] },
});
const agent = execa(process.execPath, [process.argv[2], 'agent', '--kubeconfig', api.kubeconfig, '--listen', '127.0.0.1:19747', '--max-policy-rules', '2'], { env: { NODE_NAME: 'n1' }, reject: false });
let ready = false;
for (let i = 0; i < 200 && !ready; i++) {
  ready = (await fetch('http://127.0.0.1:19747/readyz').then((r) => r.status, () => 0)) === 200;
  if (!ready) await new Promise((r) => setTimeout(r, 25));
}
const table = (await execa('nft', ['list', 'table', 'inet', 'nftpol'], { reject: false })).stdout;
const metrics = await fetch('http://127.0.0.1:19747/metrics').then((r) => r.text(), () => '');
agent.kill('SIGTERM');
const result = await agent;
await api.destroy();
const logs = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
console.log(JSON.stringify({ ready, table, metrics: metrics.split('\n').filter((l) => l.startsWith('nftpol_rejected') || l.startsWith('nftpol_policy_limit') || l.startsWith('nftpol_sync_failures')), logs }));
