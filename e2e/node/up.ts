// Bring-up check: starts the node cluster, prints its kubeconfig, waits for SIGINT/SIGTERM, stops it.
// Usage (root): node dist/e2e/node/up.js IMAGE_ARCHIVE...   Test tool.
import { NodeCluster } from './cluster.js';

const cluster = await NodeCluster.start({ nodes: Number(process.env.NODES ?? 2), images: process.argv.slice(2), log: (l) => console.log(l) });
console.log(`KUBECONFIG=${cluster.kubeconfig}`);
const stop = async () => {
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
