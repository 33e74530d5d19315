#!/usr/bin/env node
// The kubectl plugin: `kubectl nftpol explain|matrix|render ...` runs this file, installed on PATH as
// `kubectl-nftpol` (package.json bin). kubectl passes the arguments after `nftpol` and its environment
// (KUBECONFIG) unchanged. Exit codes: 0 answered, 1 the cluster or an agent could not be read, 2 usage.
import { buildProgram } from './program.js';
import { UsageError } from './offline.js';

try {
  await buildProgram('kubectl nftpol').parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`kubectl nftpol: ${error.message}\n`);
  process.exit(2);
}
