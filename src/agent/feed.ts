// Feeds watched objects into the engine: each API object becomes its slim model at once (nothing else is
// kept). A policy the engine cannot use is skipped with a warning naming it and counted; the version in
// force before it stays in force, so a bad update never widens (or narrows) access.
import type { KubernetesObject, V1Namespace, V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import type { PolicyEngine } from '../engine/engine.js';
import { InvalidObjectError, normalizeNamespace, normalizePolicy, normalizePod } from '../model/normalize.js';
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

export function feedHandler(kind: WatchedKind, engine: PolicyEngine, log: Logger, metrics: Metrics, events: FeedEvents): TimedHandler {
  const upsert = (object: KubernetesObject): void => {
    switch (kind) {
      case 'Pod':
        engine.upsertPod(normalizePod(object as V1Pod));
        return;
      case 'Namespace':
        engine.upsertNamespace(normalizeNamespace(object as V1Namespace));
        return;
      case 'NetworkPolicy': {
        const { policy, droppedRules } = normalizePolicy(object as V1NetworkPolicy);
        for (const problem of droppedRules) {
          metrics.rejectedObjects.inc({ kind: 'NetworkPolicyRule' });
          log.warn('policy rule rejected and left out (it allows nothing)', { object: describe(kind, object), path: problem.path, reason: problem.message });
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
        log.warn('object rejected; the version in force before it stays in force', {
          object: describe(kind, object),
          problems: error.problems.map((p) => `${p.path}: ${p.message}`),
        });
        return;
      }
      events.changed(receivedAt);
    },
    delete(object, receivedAt = process.hrtime.bigint()) {
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
