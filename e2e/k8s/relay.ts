// Runs inside the control plane's network namespace: forwards connections from a Unix socket (reachable
// from the root namespace through the file system) to kube-apiserver on this namespace's loopback, so
// that the harness can reach the API without any route between the namespaces. Bytes only: TLS is end
// to end. Test tool. Usage: node relay.js SOCKET PORT   (prints "ready" once listening)
import { connect, createServer } from 'node:net';

const [socketPath, port = '6443'] = process.argv.slice(2);
if (!socketPath) throw new Error('usage: relay.js SOCKET PORT');
const server = createServer((client) => {
  const upstream = connect(Number(port), '127.0.0.1');
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
