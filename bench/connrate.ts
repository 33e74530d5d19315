// New TCP connections per second from this network namespace to ip:port: connect, close, repeat, with a
// fixed number of connections in flight. Prints the rate. Used by make bench-dataplane inside a pod.
import { Socket } from 'node:net';

const [ip = '127.0.0.1', portText = '80', secondsText = '3', concurrencyText = '16'] = process.argv.slice(2);
const deadline = Date.now() + Number(secondsText) * 1000;
let completed = 0;
let failed = 0;

function once(): Promise<void> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(1000, () => {
      failed++;
      socket.destroy();
      resolve();
    });
    socket.once('error', () => {
      failed++;
      resolve();
    });
    socket.connect({ host: ip, port: Number(portText) }, () => {
      completed++;
      // Close with a reset: a normal close leaves the client port in TIME_WAIT for a minute, and tens of
      // thousands of those make the next runs measure the search for a free port instead.
      socket.resetAndDestroy();
      resolve();
    });
  });
}

async function worker(): Promise<void> {
  while (Date.now() < deadline) await once();
}

const start = Date.now();
await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
const seconds = (Date.now() - start) / 1000;
process.stdout.write(`${JSON.stringify({ perSecond: Math.round(completed / seconds), completed, failed })}\n`);
