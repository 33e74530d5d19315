// The process that stands for a pod's containers in the sandbox cluster: it serves the pod's TCP and UDP
// ports, and runs connectivity probes from the pod when asked on stdin (one JSON object per line),
// answering on stdout. One long-lived process per pod keeps a probe to a new socket, not a new process.
//
// Usage: node podproc.js <name> <port/PROTOCOL>...
// Probe request:  {"id": 1, "ip": "10.244.1.10", "port": 80, "protocol": "TCP", "timeoutMs": 400, "client": "curl"}
// Probe answer:   {"id": 1, "ok": true}
// Long-lived connections: {"id": 2, "ip": ..., "port": 80, "protocol": "TCP", "timeoutMs": 400, "client": "hold"}
// opens a TCP connection and keeps it (answer ok when it is up; the id names it); {"id": 3, "ping": 2,
// "timeoutMs": 400} sends a byte over held connection 2 and answers ok when the echo comes back. With
// "protocol": "UDP", a held connection is a connected UDP socket, and a ping a datagram and its answer.
// TCP probes are HTTP requests made with curl, as the same checks are made on a real cluster (client
// "curl", the default); client "socket" is a bare connect, for benchmarks that probe every few
// milliseconds and would measure curl's start-up instead of the verdict.
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, Socket } from 'node:net';
import { createInterface } from 'node:readline';

const [name = 'pod', ...portSpecs] = process.argv.slice(2);

function serve(spec: string): Promise<void> {
  const [portText, protocol] = spec.split('/');
  const port = Number(portText);
  return new Promise((listening) => {
    if (protocol === 'TCP') {
      // Answers like an HTTP server, so that curl works as well as a bare connect.
      const server = createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', (first) => {
          // A held connection announces itself and is echoed from then on; anything else is HTTP.
          if (first.toString().startsWith('HOLD')) socket.on('data', (chunk) => socket.write(chunk));
          else socket.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n${name}\n`);
        });
      });
      server.listen({ port, host: '::', ipv6Only: false }, listening);
    } else if (protocol === 'UDP') {
      const socket = createSocket({ type: 'udp6', ipv6Only: false });
      socket.on('message', (_msg, rinfo) => socket.send(`${name}\n`, rinfo.port, rinfo.address));
      socket.bind(port, '::', listening);
    } else {
      listening(); // SCTP: this kernel has no SCTP sockets; SCTP is probed with a raw INIT instead
    }
  });
}

function probeTcp(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect({ host: ip, port }, () => done(true));
  });
}

/** An HTTP GET with curl: ok when a response came back within the timeout. */
function probeCurl(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  const seconds = (timeoutMs / 1000).toFixed(3);
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-g', '-o', '/dev/null', '--connect-timeout', seconds, '-m', seconds, `http://${host}:${port}/`], (error) => resolve(error === null));
  });
}

function probeUdp(ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean): void {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    }
    socket.once('message', () => done(true));
    socket.once('error', () => done(false));
    socket.send('hostname\n', port, ip);
  });
}

const held = new Map<number, Socket>();
/** Held UDP "connections": one socket, one source port, a datagram each way per ping (conntrack tracks it). */
const heldUdp = new Map<number, UdpSocket>();

/** Sends one datagram and resolves true when any answer comes back in time. */
function udpExchange(socket: UdpSocket, text: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', answered);
      resolve(false);
    }, timeoutMs);
    function answered(): void {
      clearTimeout(timer);
      resolve(true);
    }
    socket.once('message', answered);
    socket.send(text);
  });
}

function holdUdp(id: number, ip: string, port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
  socket.on('error', () => undefined);
  return new Promise((resolve) => {
    socket.connect(port, ip, () => {
      void udpExchange(socket, 'HOLD\n', timeoutMs).then((ok) => {
        if (ok) heldUdp.set(id, socket);
        else socket.close();
        resolve(ok);
      });
    });
  });
}

function hold(id: number, ip: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    socket.connect({ host: ip, port }, () => {
      clearTimeout(timer);
      socket.write('HOLD\n');
      held.set(id, socket);
      resolve(true);
    });
  });
}

function ping(heldId: number, timeoutMs: number): Promise<boolean> {
  const udp = heldUdp.get(heldId);
  if (udp) return udpExchange(udp, 'x', timeoutMs);
  const socket = held.get(heldId);
  if (!socket || socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('data', echoed);
      resolve(false);
    }, timeoutMs);
    function echoed(): void {
      clearTimeout(timer);
      resolve(true);
    }
    socket.once('data', echoed);
    socket.write('x');
  });
}

interface ProbeRequest {
  readonly id: number;
  readonly ip: string;
  readonly port: number;
  readonly protocol: string;
  readonly timeoutMs: number;
  readonly client?: 'curl' | 'socket' | 'hold';
  readonly ping?: number;
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line) as ProbeRequest;
  const answer = (ok: boolean) => process.stdout.write(`${JSON.stringify({ id: request.id, ok })}\n`);
  if (request.ping !== undefined) {
    void ping(request.ping, request.timeoutMs).then(answer);
    return;
  }
  if (request.client === 'hold') {
    void (request.protocol === 'UDP' ? holdUdp : hold)(request.id, request.ip, request.port, request.timeoutMs).then(answer);
    return;
  }
  const probe = request.protocol === 'UDP' ? probeUdp : request.client === 'socket' ? probeTcp : probeCurl;
  void probe(request.ip, request.port, request.timeoutMs).then(answer);
});
process.stdin.on('end', () => process.exit(0));
void Promise.all(portSpecs.map(serve)).then(() => process.stdout.write(`${JSON.stringify({ ready: true })}\n`));
