/**
 * Runs every schedule-exploration scenario with a chosen bound and prints a table — for
 * deeper runs than the test suite's
 * (`node dist/test/support/schedule-explorer/run.js --preemptions 3`).
 * Exit status 1 if any scenario fails (the failing schedule's trace is printed).
 */
import { explore, type Scenario } from './explorer.js';
import { recoveryScenarios, registryScenarios } from './registry-model.js';
import { rwlockScenarios } from './rwlock-model.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isInteger(v) && v >= 0 ? v : fallback;
}

const preemptions = flag('preemptions', 2);
const maxSteps = flag('max-steps', 2000);
const scenarios: Scenario<unknown>[] = [
  ...rwlockScenarios(),
  ...registryScenarios(),
  ...recoveryScenarios(),
] as Scenario<unknown>[];
console.log(
  `schedule exploration: preemption bound ${preemptions}, ${maxSteps} steps per schedule`,
);
console.log('| scenario | threads | schedules | longest | pruned | ms | result |');
console.log('|---|---|---|---|---|---|---|');
let failed = 0;
for (const scenario of scenarios) {
  const r = explore(scenario, { preemptions, maxSteps });
  const f = r.failures[0];
  if (f !== undefined) failed++;
  console.log(
    `| ${scenario.name} | ${scenario.threads.length} | ${r.schedules.toLocaleString('en')} | ` +
      `${r.maxDepth} | ${r.pruned} | ${Math.round(r.elapsedMs)} | ${f ? 'FAIL' : 'pass'} |`,
  );
  if (f !== undefined) console.log(`${f.message}\n${f.trace.join('\n')}`);
}
process.exitCode = failed === 0 ? 0 : 1;
