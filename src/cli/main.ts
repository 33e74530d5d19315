#!/usr/bin/env node
// The nftpol executable.
import { buildProgram } from './program.js';
import { UsageError } from './offline.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`nftpol: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
