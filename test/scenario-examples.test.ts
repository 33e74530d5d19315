import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario } from '../src/scenario/format.js';
import { ScenarioModel } from '../src/scenario/evaluate.js';
import { SHARED } from './support/paths.js';

const dir = join(SHARED, 'scenarios', 'examples');

describe('every scenario in ../shared/scenarios/examples comes out of the engine exactly', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    test(file, () => {
      const scenario = parseScenario(readFileSync(join(dir, file), 'utf8'));
      const steps = ScenarioModel.evaluate(scenario);
      for (const [i, step] of steps.entries()) {
        expect(step.mismatches).toEqual([]);
        // Every expected row must equal the computed row character for character ('-' only on the diagonal).
        for (const [probe, rows] of Object.entries(scenario.steps[i]!.expect ?? {})) {
          expect(step.results[probe]).toEqual(rows);
        }
      }
    });
  }
});
