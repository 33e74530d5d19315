// The API server double as the scenario runner runs it (dist/e2e/apiserver/serve.js, ended by SIGTERM from
// the sandbox cluster's destroy(); Ctrl-C sends SIGINT) leaves no file behind: FORMAT.md promises
// that the runner removes every file it creates. TMPDIR points at a fresh directory that must end empty.
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './support/paths.js';

const SERVE = join(ROOT, 'dist/e2e/apiserver/serve.js');

async function serveAndEnd(how: 'SIGTERM' | 'SIGINT' | 'stdin'): Promise<{ kubeconfig: string; left: string[]; exitCode: number | undefined }> {
  const temp = mkdtempSync(join(tmpdir(), 'nftpol-test-tmp-'));
  try {
    const child = execa(process.execPath, [SERVE, '127.0.0.1', '0'], { env: { TMPDIR: temp }, stdin: 'pipe', reject: false, timeout: 20_000 });
    const replies = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    expect(JSON.parse((await replies.next()).value as string)).toMatchObject({ ready: true });
    child.stdin!.write(`${JSON.stringify({ id: 1, op: 'kubeconfig' })}\n`);
    const { kubeconfig } = JSON.parse((await replies.next()).value as string) as { kubeconfig: string };
    expect(kubeconfig.startsWith(temp)).toBe(true);
    expect(existsSync(kubeconfig)).toBe(true);
    if (how === 'stdin') child.stdin!.end();
    else child.kill(how);
    const result = await child;
    return { kubeconfig, left: readdirSync(temp), exitCode: result.exitCode };
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

test.each(['SIGTERM', 'SIGINT'] as const)('serve.js ended by %s removes its kubeconfig directory', async (how) => {
  const { left, exitCode } = await serveAndEnd(how);
  expect(left).toEqual([]);
  expect(exitCode).toBe(0);
});
