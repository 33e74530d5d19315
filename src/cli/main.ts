#!/usr/bin/env node
// The nftpol executable.
import { buildProgram } from './program.js';
import { UsageError } from './offline.js';
import { NftError } from '../nft/executor.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`nftpol: ${error.message}\n`);
    process.exit(2);
  }
  // nft missing or refusing (`nftpol cleanup`): its message is the whole story, a stack trace adds nothing.
  if (error instanceof NftError) {
    process.stderr.write(`nftpol: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
