import { configDefaults, defineConfig } from 'vitest/config';

// Why some tests still run compiled: worker threads and child processes load the
// JavaScript the server ships (the piscina pool's dist/workers/context-worker.js,
// dist/src/main.js, the lock tests' worker fixtures), which Node 20 cannot load from
// TypeScript; so the tests that start them run from dist/, built by `npm test`, and
// every other test runs its TypeScript directly, without a build. One compiled file:
// `npm run build --silent && npx vitest run dist/test/<dir>/<file>.test.js`.
const COMPILED = [
  'shm/arena', // arena worker fixture
  'sync/{rwlock,deadlock,recovery,registry}', // lock worker fixtures
  'memory/{rss,bounded,listing}', // server processes
  'bench/**/*', // benchmark and baseline processes
  'fuzz/**/*',
  'conversation/**/*',
  'durability/**/*',
  'http/**/*', // server processes, and in-process apps on a real worker pool
  'recovery/**/*',
  'work/**/*',
  'cache/**/*', // server processes
  'read-path/**/*', // server processes
  'zero-copy/**/*', // server processes, the arena worker fixture
];
// ContextSlot and ops on a real arena: its lock blocks, which the main thread may not do.
const ON_A_THREAD = ['slots/**/*'];

const source = (patterns: string[]) => patterns.map((p) => `test/${p}.test.ts`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 }, threads: { maxThreads: 1, minThreads: 1 } },
    projects: [
      {
        extends: true,
        test: {
          name: 'source',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...source(COMPILED), ...source(ON_A_THREAD)],
        },
      },
      {
        extends: true,
        test: { name: 'source-on-a-thread', include: source(ON_A_THREAD), pool: 'threads' },
      },
      {
        extends: true,
        test: {
          name: 'compiled',
          include: COMPILED.map((p) => `dist/test/${p}.test.js`),
          exclude: configDefaults.exclude.filter((pattern) => !pattern.includes('dist')),
        },
      },
    ],
  },
});
