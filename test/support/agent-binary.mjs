// Runs the built `nftpol agent` binary in the network namespace this script runs in (the test starts it
// under `unshare -n`), against the API double: waits for ready, sends SIGTERM, prints the outcome as JSON.
import { execa } from 'execa';
import { ApiServerDouble } from '../../dist/e2e/apiserver/double.js';

await execa('ip', ['link', 'set', 'lo', 'up']);
const api = new ApiServerDouble();
await api.start();
api.apply('Namespace', { metadata: { name: 'x' } });
api.apply('Pod', { metadata: { namespace: 'x', name: 'a' }, spec: { nodeName: 'n1', containers: [] }, status: { phase: 'Running', podIPs: [{ ip: '10.0.0.1' }] } });
api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: {} } });
const agent = execa(process.execPath, [process.argv[2], 'agent', '--kubeconfig', api.kubeconfig, '--listen', '127.0.0.1:19746'], { env: { NODE_NAME: 'n1' }, reject: false });
let ready = false;
for (let i = 0; i < 200 && !ready; i++) {
  ready = (await fetch('http://127.0.0.1:19746/readyz').then((r) => r.status, () => 0)) === 200;
  if (!ready) await new Promise((r) => setTimeout(r, 25));
}
const table = (await execa('nft', ['list', 'table', 'inet', 'nftpol'], { reject: false })).stdout;
agent.kill('SIGTERM');
const result = await agent;
const after = (await execa('nft', ['list', 'table', 'inet', 'nftpol'], { reject: false })).exitCode;
const cleanup = await execa(process.execPath, [process.argv[2], 'cleanup'], { reject: false });
const gone = (await execa('nft', ['list', 'table', 'inet', 'nftpol'], { reject: false })).exitCode;
await api.destroy();
const logs = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
console.log(JSON.stringify({ ready, enforced: table.includes('10.0.0.1 : jump in-'), exitCode: result.exitCode, tableKept: after === 0, cleanup: cleanup.stdout.trim(), tableGone: gone !== 0, messages: logs.map((l) => l.msg) }));
