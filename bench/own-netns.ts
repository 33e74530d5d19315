// Benchmarks that program nft run in a network namespace of their own: this re-runs the current script
// under `unshare -n` (once) and exits with its status, so that nothing touches the starting namespace.
import { execa } from 'execa';

/** Returns in the re-run process; the original process exits after the re-run ends. */
export async function inOwnNetworkNamespace(env: Record<string, string> = {}): Promise<void> {
  if (process.env.NFTPOL_BENCH_UNSHARED === '1') return;
  const child = await execa('unshare', ['-n', process.execPath, ...process.execArgv, process.argv[1]!], {
    env: { ...env, NFTPOL_BENCH_UNSHARED: '1' },
    stdio: 'inherit',
    reject: false,
  });
  process.exit(child.exitCode ?? 1);
}
