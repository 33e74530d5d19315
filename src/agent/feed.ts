// Feeds watched objects into the engine: each API object becomes its slim model at once (nothing else is
// kept). A policy the engine cannot use is skipped with a warning naming it and counted; the version in
// force before it stays in force, so a bad update never widens (or narrows) access. A policy over a cost
// limit is enforced up to the limit (its pods stay isolated; its rules beyond allow nothing); a pod address
// that is not a plain address is left out. Each is logged and counted.
import type { KubernetesObject, V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import type { PolicyEngine } from '../engine/engine.js';
import { POLICY_LIMIT_FLAGS, type PolicyLimits } from '../model/limits.js';
import { InvalidObjectError, normalizeNamespace, normalizePolicy, normalizePod, type Problem } from '../model/normalize.js';
import type { WatchedKind } from '../watch/kube.js';
import type { ReflectorHandler, WatchFailure } from '../watch/reflector.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** A reflector handler that can also be told when the agent received the event (fairqueue.ts queues it). */
export interface TimedHandler extends ReflectorHandler {
  upsert(object: KubernetesObject, receivedAt?: bigint): void;
  delete(object: KubernetesObject, receivedAt?: bigint): void;
}

export interface FeedEvents {
  /** The engine may have changed: a sync should follow. `receivedAt`: process.hrtime.bigint() at receipt. */
  changed(receivedAt: bigint): void;
  synced(kind: WatchedKind): void;
  watchError(kind: WatchedKind, failure: WatchFailure): void;
}

function describe(kind: WatchedKind, object: KubernetesObject): string {
  return `${kind} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name ?? '?'}`;
}

export function feedHandler(kind: WatchedKind, engine: PolicyEngine, log: Logger, metrics: Metrics, limits: PolicyLimits, events: FeedEvents): TimedHandler {
  // A relist delivers every object again: the versions already reported (over a limit, bad addresses) are
  // remembered so that each is logged and counted once. Only objects with such problems are kept here.
  const reported = new Map<string, string>();
  const firstReport = (object: KubernetesObject): boolean => {
    const key = describe(kind, object);
    const version = object.metadata?.resourceVersion ?? '';
    if (version !== '' && reported.get(key) === version) return false;
    reported.set(key, version);
    return true;
  };
  /** Counts a policy over a cost limit in its namespace, under the flag that sets the limit. */
  const countOverLimit = (object: KubernetesObject, problem: Problem): void => {
    if (problem.limit === undefined) return;
    metrics.policyLimitExceeded.inc({ namespace: object.metadata?.namespace ?? '', limit: POLICY_LIMIT_FLAGS[problem.limit].replace(/^--/, '') });
  };
  const upsert = (object: KubernetesObject): void => {
    switch (kind) {
      case 'Pod': {
        const addressProblems: Problem[] = [];
        engine.upsertPod(normalizePod(object as V1Pod, addressProblems));
        if (addressProblems.length === 0) reported.delete(describe(kind, object));
        else if (!firstReport(object)) return;
        for (const problem of addressProblems) {
          metrics.rejectedObjects.inc({ kind: 'PodAddress' });
          log.warn('pod address rejected and left out (it is not a plain IPv4 or IPv6 address)', { object: describe(kind, object), path: problem.path, reason: problem.message });
        }
        return;
      }
      case 'Namespace':
        engine.upsertNamespace(normalizeNamespace(object as V1Namespace));
        return;
      case 'NetworkPolicy': {
        const { policy, droppedRules, overLimit } = normalizePolicy(object as V1NetworkPolicy, limits);
        for (const problem of droppedRules) {
          metrics.rejectedObjects.inc({ kind: 'NetworkPolicyRule' });
          log.warn('policy rule rejected and left out (it allows nothing)', { object: describe(kind, object), path: problem.path, reason: problem.message });
        }
        if (overLimit.length === 0) reported.delete(describe(kind, object));
        for (const problem of overLimit.length > 0 && firstReport(object) ? overLimit : []) {
          countOverLimit(object, problem);
          log.warn('policy over a cost limit: its rules from this one on are left out (they allow nothing); its pods stay isolated', {
            object: describe(kind, object),
            path: problem.path,
            reason: problem.message,
          });
        }
        engine.upsertPolicy(policy);
        return;
      }
    }
  };
  return {
    upsert(object, receivedAt = process.hrtime.bigint()) {
      try {
        upsert(object);
      } catch (error) {
        if (!(error instanceof InvalidObjectError)) throw error;
        metrics.rejectedObjects.inc({ kind });
        if (error.problems.some((p) => p.limit !== undefined) && firstReport(object)) for (const problem of error.problems) countOverLimit(object, problem);
        log.warn('object rejected; the version in force before it stays in force', {
          object: describe(kind, object),
          problems: error.problems.map((p) => `${p.path}: ${p.message}`),
        });
        return;
      }
      events.changed(receivedAt);
    },
    delete(object, receivedAt = process.hrtime.bigint()) {
      reported.delete(describe(kind, object));
      const namespace = object.metadata?.namespace ?? '';
      const name = object.metadata?.name ?? '';
      if (kind === 'Pod') engine.deletePod(namespace, name);
      else if (kind === 'Namespace') engine.deleteNamespace(name);
      else engine.deletePolicy(namespace, name);
      events.changed(receivedAt);
    },
    synced() {
      events.synced(kind);
    },
    error(failure) {
      metrics.watchErrors.inc({ kind, phase: failure.phase });
      metrics.watchFailures.inc({ kind, reason: failure.reason });
      events.watchError(kind, failure);
    },
  };
}
