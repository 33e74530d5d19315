// make e2e-node: the kind runner's path (e2e/kind/run.ts) on the local nodes of cluster.ts, then Kubernetes'
// own NetworkPolicy e2e tests twice:
//   1. a control scenario without nftpol (nothing else enforces), nftpol installed from daemonset/ with
//      kubectl apply -k, every scenario file (agnhost pods, kubectl exec probes, the same output JSON);
//   2. e2e.test --ginkgo.focus on test/e2e/network/netpol with nftpol installed: every test must pass (SCTP
//      skipped: no SCTP in this kernel);
//   3. nftpol uninstalled as docs/install.md says (delete, then the cleanup DaemonSet), and e2e.test again:
//      the control, which must fail (enforcement absent). CONTROL_FOCUS narrows it (default: the three
//      default-deny tests; `all` runs the whole netpol suite again).
// Environment: NODES (2), NFTPOL_IMAGES (e2e/node/images.sh's cache), IMAGE (the nftpol image in it;
// daemonset/'s), SCENARIOS and OUT as for e2e/kind/run.ts (OUT defaults to e2e/node/out), E2E_TEST
// (the e2e.test binary; the one e2e/k8s/build.sh builds), UPSTREAM=0 (scenarios only), UPSTREAM_FOCUS (a
// regexp within the netpol tests' names, for a quick run; default: all of them).
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binDir } from '../k8s/controlplane.js';
import { formatUpstream, runUpstream, type UpstreamResult } from '../kind/upstream.js';
import { imagesDir, nodeProvider } from './provider.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
process.env.OUT ??= join(ROOT, 'e2e', 'node', 'out');
const OUT = process.env.OUT;
/** The control's default: three tests that each fail at once without enforcement. */
const CONTROL_DEFAULT = "should support a 'default-deny-ingress' policy|should support a 'default-deny-all' policy";

const { runScenarios } = await import('../kind/run.js');

function summary(result: UpstreamResult): object {
  return {
    exitCode: result.exitCode,
    wallSeconds: Math.round(result.wallSeconds),
    counts: { tests: result.tests.length, passed: result.passed.length, failed: result.failed.length, skipped: result.skipped.length },
    tests: result.tests,
  };
}

async function main(): Promise<number> {
  const provider = nodeProvider({
    root: ROOT,
    nodes: Number(process.env.NODES ?? 2),
    images: imagesDir(),
    ...(process.env.IMAGE ? { image: process.env.IMAGE } : {}),
  });
  // `on`, not `once`: execa's exit hook re-raises the signal after killing our direct children, and that
  // second delivery must find this handler again rather than end the process before destroy() is done.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('e2e-node: interrupted; removing the cluster');
    void provider.destroy().finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const e2eTest = process.env.E2E_TEST ?? join(binDir(), 'e2e.test');
  const upstream = process.env.UPSTREAM !== '0';
  if (upstream && !existsSync(e2eTest)) throw new Error(`${e2eTest} is not built (NFTPOL_K8S_COMMANDS=e2e.test e2e/k8s/build.sh)`);
  const started = Date.now();
  const code = await runScenarios(
    provider,
    upstream
      ? async ({ kubeconfig, kubectl }) => {
          let failures = 0;
          console.log('upstream netpol tests with nftpol installed');
          const narrowed = process.env.UPSTREAM_FOCUS ? { focus: `\\[sig-network\\] Netpol .*(${process.env.UPSTREAM_FOCUS})` } : {};
          const withAgent = await runUpstream({ e2eTest, kubeconfig, reportDir: join(OUT, 'upstream'), ...narrowed });
          console.log(formatUpstream(withAgent, 'upstream netpol, nftpol installed'));
          if (withAgent.failed.length > 0 || withAgent.passed.length === 0) failures++;

          console.log('uninstalling nftpol (docs/install.md): delete, then the cleanup DaemonSet');
          await kubectl(['delete', '-f', join(ROOT, 'daemonset', 'daemonset.yaml'), '--wait=true']);
          await kubectl(['-n', 'kube-system', 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/name=nftpol', '--timeout=2m']);
          await kubectl(['apply', '-f', join(ROOT, 'daemonset', 'uninstall')]);
          await kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/nftpol-cleanup', '--timeout=3m']);
          await kubectl(['delete', '-f', join(ROOT, 'daemonset', 'uninstall'), '--wait=true']);

          const focus = process.env.CONTROL_FOCUS === 'all' ? undefined : `\\[sig-network\\] Netpol .*(${process.env.CONTROL_FOCUS ?? CONTROL_DEFAULT})`;
          console.log(`control: upstream netpol tests without nftpol (${focus ?? 'all'}); they must fail`);
          const control = await runUpstream({ e2eTest, kubeconfig, reportDir: join(OUT, 'upstream-control'), ...(focus ? { focus } : {}) });
          console.log(formatUpstream(control, 'control, nftpol uninstalled'));
          const enforcedWithout = control.tests.filter((t) => t.status === 'passed');
          if (control.failed.length === 0) {
            console.log('FAIL control: without nftpol the suite passed, so something else enforces or the tests do not test enforcement');
            failures++;
          } else if (enforcedWithout.length > 0) {
            console.log(`note: ${enforcedWithout.length} control tests passed without nftpol (they do not depend on enforcement)`);
          }
          writeFileSync(join(OUT, 'upstream-summary.json'), `${JSON.stringify({ withNftpol: summary(withAgent), withoutNftpol: summary(control) }, null, 2)}\n`);
          return failures;
        }
      : undefined,
  );
  console.log(`e2e-node: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  return code;
}

try {
  process.exit(await main());
} catch (error) {
  process.stderr.write(`e2e-node: ${(error as Error).message}\n`);
  process.exit(2);
}
