// The built agent binary as the DaemonSet runs it, in a network namespace of its own: ready, enforcing,
// SIGTERM exits 0 and leaves the rules; `nftpol cleanup` removes them.
import { execa } from 'execa';
import { join } from 'node:path';
import { ROOT } from './support/paths.js';

test('nftpol agent: ready, enforcing, exit 0 on SIGTERM with the rules left; cleanup removes the table', async () => {
  const r = await execa('unshare', ['-n', process.execPath, join(ROOT, 'test/support/agent-binary.mjs'), join(ROOT, 'dist/src/cli/main.js')], { reject: false, timeout: 30_000 });
  expect(r.stderr).toBe('');
  const result = JSON.parse(r.stdout);
  expect(result).toMatchObject({ ready: true, enforced: true, exitCode: 0, tableKept: true, cleanup: 'removed table inet nftpol', tableGone: true });
  expect(result.messages).toEqual(expect.arrayContaining(['agent started', 'informer synced', 'sync', 'shutting down', 'agent stopped; the nftpol table stays in place']));
}, 40_000);
