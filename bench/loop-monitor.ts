// Loaded into the agent process by `make bench-abuse` (node --import), never by the agent itself: reports
// the event loop's longest stall of each half second on stderr. Measured inside the process, so that a
// stall that also blocks /metrics is still seen (prom-client's lag metric is lost with the failed scrape).
import { monitorEventLoopDelay } from 'node:perf_hooks';

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
setInterval(() => {
  process.stderr.write(`nftpol-bench-loop-max-ms ${(delay.max / 1e6).toFixed(1)}\n`);
  delay.reset();
}, 500).unref();
