// When nft is not on PATH, every runner call says so (not "nft failed: no message", and not "no table").
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { nftCommand, NftError } from '../src/nft/executor.js';
import { ROOT } from './support/paths.js';

const savedPath = process.env.PATH;
const ns = `nftpol${randomBytes(3).toString('hex')}-nonft`;

beforeAll(async () => {
  await execa('ip', ['netns', 'add', ns]);
});
afterAll(async () => {
  process.env.PATH = savedPath;
  await execa('ip', ['netns', 'del', ns], { reject: false });
});

// Directly: a PATH without nft. Through `ip netns exec`: ip and nft share /usr/sbin, so there the nft
// program is one that no PATH holds, and the message is ip's own ("exec of ... failed").
describe.each([
  ['directly', '/nonexistent-nftpol-test', 'nft', undefined],
  ['through ip netns exec', savedPath, 'nft-not-installed', ns],
] as const)('nft missing from PATH, run %s', (_how, path, nft, netns) => {
  const withoutNft = async <T>(call: () => Promise<T>): Promise<T> => {
    process.env.PATH = path;
    try {
      return await call();
    } finally {
      process.env.PATH = savedPath;
    }
  };
  const runner = () => nftCommand({ nft, ...(netns ? { netns } : {}) });
  const message = new RegExp(`^nft not found: "${nft}" is not on PATH`);

  test('apply says nft was not found', async () => {
    const error = await withoutNft(() => runner().apply('table inet nftpol {\n}\n')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftError);
    expect((error as Error).message).toMatch(message);
  });

  test('listTable does not mistake a missing nft for a missing table', async () => {
    await expect(withoutNft(() => runner().listTable('nftpol'))).rejects.toThrow(message);
  });

  test('listCounters says nft was not found', async () => {
    await expect(withoutNft(() => runner().listCounters!('nftpol'))).rejects.toThrow(message);
  });
});

test('nftpol cleanup without nft on PATH: one line saying so, exit 1, no stack trace', async () => {
  const r = await execa(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'cleanup'], { env: { PATH: '/nonexistent-nftpol-test' }, reject: false });
  expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 1, stderr: 'nftpol: nft not found: "nft" is not on PATH (/nonexistent-nftpol-test); install nftables' });
});
