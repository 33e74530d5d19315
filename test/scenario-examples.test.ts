import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseScenario } from '../src/scenario/format.js';
import { ScenarioModel } from '../src/scenario/evaluate.js';
import { ROOT, SHARED } from './support/paths.js';

const dirs = [join(SHARED, 'scenarios', 'examples'), join(ROOT, 'e2e', 'scenarios'), join(ROOT, 'e2e', 'conformance')];

describe('every scenario (shared examples, nftpol\'s own, upstream conformance cases) comes out of the engine exactly', () => {
  for (const [dir, file] of dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => [d, f] as const))) {
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
