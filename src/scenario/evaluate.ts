// What a scenario's policies say, computed by the engine alone: the expected side of every probe. The
// sandbox cluster checks the same steps with real packets.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { PolicyEngine, type EngineChanges } from '../engine/engine.js';
import { connectivityMatrix } from '../engine/matrix.js';
import { InvalidObjectError, normalizeNamespace, normalizePod, normalizePolicy } from '../model/normalize.js';
import type { Labels } from '../model/types.js';
import type { Scenario, Step } from './format.js';
import { probeKey, ScenarioError } from './format.js';
import { namespaceObject, podObject } from './objects.js';

export interface Mismatch {
  readonly probe: string;
  readonly from: string;
  readonly to: string;
  readonly expected: string;
  readonly observed: string;
}

export interface StepResult {
  readonly name: string;
  readonly results: Record<string, Record<string, string>>;
  readonly mismatches: Mismatch[];
}

/** Compares observed rows with a step's expectations ('-' in an expectation is not checked). */
export function compareWithExpect(step: Step, pods: readonly string[], results: Record<string, Record<string, string>>): Mismatch[] {
  const mismatches: Mismatch[] = [];
  for (const [probe, rows] of Object.entries(step.expect ?? {})) {
    for (const [from, expectedRow] of Object.entries(rows)) {
      const observedRow = results[probe]?.[from] ?? '';
      [...expectedRow].forEach((expected, i) => {
        const observed = observedRow[i] ?? '?';
        if (expected !== '-' && pods[i] !== from && expected !== observed) {
          mismatches.push({ probe, from, to: pods[i]!, expected, observed });
        }
      });
    }
  }
  return mismatches;
}

function labelsOfObject(obj: Record<string, unknown>): Labels {
  const metadata = (obj.metadata ?? {}) as { labels?: Record<string, string> };
  return metadata.labels ?? {};
}

/** Runs one normalization; an object the API server would reject makes the scenario invalid. */
function valid<T>(normalize: () => T): T {
  try {
    return normalize();
  } catch (error) {
    if (error instanceof InvalidObjectError) throw new ScenarioError(error.message);
    throw error;
  }
}

/** The engine-side state of a scenario, advanced step by step. */
export class ScenarioModel {
  readonly engine: PolicyEngine;
  readonly pods: readonly string[];

  /** @param node the node whose pods are local (see PolicyEngine); every pod when null. */
  constructor(
    readonly scenario: Scenario,
    node: string | null = null,
  ) {
    this.engine = new PolicyEngine(node);
    for (const ns of scenario.namespaces) this.engine.upsertNamespace(valid(() => normalizeNamespace(namespaceObject(ns.name, ns.labels))));
    for (const pod of scenario.pods) {
      this.engine.upsertPod(valid(() => normalizePod(podObject(pod))));
    }
    this.pods = scenario.pods.map((p) => p.key);
  }

  /** Applies a step's objects and deletions; returns what changed in the engine. */
  apply(step: Step): EngineChanges {
    for (const obj of step.apply) {
      const metadata = (obj.metadata ?? {}) as { name?: string; namespace?: string };
      switch (obj.kind) {
        case 'NetworkPolicy': {
          const { policy, droppedRules, overLimit } = valid(() => normalizePolicy(obj as V1NetworkPolicy));
          const problems = [...droppedRules, ...overLimit];
          if (problems.length > 0) throw new ScenarioError(`NetworkPolicy ${metadata.namespace}/${metadata.name}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
          this.engine.upsertPolicy(policy);
          break;
        }
        case 'Namespace': {
          const name = String(metadata.name);
          if (!this.scenario.namespaces.some((n) => n.name === name)) throw new ScenarioError(`Namespace ${name} does not exist`);
          this.engine.upsertNamespace(valid(() => normalizeNamespace(namespaceObject(name, labelsOfObject(obj)))));
          break;
        }
        case 'Pod': {
          const key = `${metadata.namespace ?? 'default'}/${metadata.name}`;
          const pod = this.scenario.pods.find((p) => p.key === key);
          if (!pod) throw new ScenarioError(`Pod ${key} does not exist`);
          this.engine.upsertPod(valid(() => normalizePod(podObject(pod, labelsOfObject(obj)))));
          break;
        }
        default:
          throw new ScenarioError(`cannot apply kind ${String(obj.kind)}`);
      }
    }
    for (const ref of step.delete) {
      if (ref.kind !== 'NetworkPolicy') throw new ScenarioError(`cannot delete kind ${ref.kind}`);
      this.engine.deletePolicy(ref.namespace, ref.name);
    }
    return this.engine.takeChanges();
  }

  /**
   * What every probe of the step should observe, keyed as the scenario output keys it: the policies'
   * verdict, and 'X' where the destination does not serve the probed port (a scenario's pods serve
   * exactly their listed ports, so such a probe is refused whatever the policies say).
   */
  results(step: Step): Record<string, Record<string, string>> {
    const results: Record<string, Record<string, string>> = {};
    for (const probe of step.probes) {
      const rows = connectivityMatrix(this.engine, this.pods, probe);
      const serves = this.scenario.pods.map((pod) => pod.ports.some((p) => p.port === probe.port && p.protocol === probe.protocol));
      for (const src of this.pods) rows[src] = [...rows[src]!].map((c, i) => (c === '.' && !serves[i] ? 'X' : c)).join('');
      results[probeKey(probe)] = rows;
    }
    return results;
  }

  /** Applies every step in order and returns the engine's verdicts with any mismatch against `expect`. */
  static evaluate(scenario: Scenario): StepResult[] {
    const model = new ScenarioModel(scenario);
    return scenario.steps.map((step) => {
      model.apply(step);
      const results = model.results(step);
      return { name: step.name, results, mismatches: compareWithExpect(step, model.pods, results) };
    });
  }
}
