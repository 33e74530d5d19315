// Tests on the real control plane run only as root (network namespaces) once `make k8s-bin` has built its
// binaries; otherwise they are skipped with the reason, said once per file.
import { test } from '@jest/globals';
import { missingBinaries } from '../../e2e/k8s/controlplane.js';

/** Why tests on the real control plane cannot run here, or null when they can. */
export function realControlPlaneSkip(): string | null {
  return missingBinaries() ?? (process.getuid?.() !== 0 ? 'needs root (network namespaces)' : null);
}

/** `test`, or `test.skip` with a warning naming `what` and the reason. */
export function onRealControlPlane(what: string): typeof test | typeof test.skip {
  const skip = realControlPlaneSkip();
  if (skip) console.warn(`skipping ${what} on a real control plane: ${skip}`);
  return skip ? test.skip : test;
}
