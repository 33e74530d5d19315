// The API server double as a process of its own (test tool), for the sandbox cluster: it listens inside the
// fabric namespace where node namespaces reach it, and takes its writes as JSON lines on stdin:
//   {"id": 1, "op": "apply", "kind": "NetworkPolicy", "object": {...}}   -> {"id": 1, "resourceVersion": 12}
//   {"id": 2, "op": "delete", "kind": "NetworkPolicy", "namespace": "x", "name": "p"}
//   {"id": 3, "op": "kubeconfig"}                                          -> {"id": 3, "kubeconfig": "/tmp/..."}
// Usage: node serve.js HOST PORT
import { createInterface } from 'node:readline';
import { ApiServerDouble, type Kind } from './double.js';

const [host = '127.0.0.1', port = '6443'] = process.argv.slice(2);
const api = new ApiServerDouble();
await api.start(Number(port), host);

interface Command {
  readonly id: number;
  readonly op: 'apply' | 'delete' | 'kubeconfig' | 'dropWatches';
  readonly kind?: Kind;
  readonly object?: Record<string, unknown>;
  readonly namespace?: string;
  readonly name?: string;
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  let reply: Record<string, unknown> = { id: command.id };
  try {
    if (command.op === 'apply') api.apply(command.kind!, command.object!);
    else if (command.op === 'delete') api.delete(command.kind!, command.namespace ?? '', command.name!);
    else if (command.op === 'dropWatches') api.dropWatches();
    else if (command.op === 'kubeconfig') reply = { ...reply, kubeconfig: api.kubeconfig };
    reply = { ...reply, resourceVersion: api.resourceVersion };
  } catch (error) {
    reply = { ...reply, error: String(error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
});
// The sandbox runner ends this process with SIGTERM; whichever way it ends, the kubeconfig's directory goes.
let exiting = false;
const exit = () => {
  if (exiting) return;
  exiting = true;
  void api.destroy().finally(() => process.exit(0));
};
process.stdin.on('end', exit);
process.once('SIGTERM', exit);
process.once('SIGINT', exit);
process.stdout.write(`${JSON.stringify({ ready: true, url: api.url })}\n`);
