import { configDefaults, defineConfig } from 'vitest/config';

// Tests run against the compiled output in dist/ so that worker threads load the same
// JavaScript the server ships; `npm test` builds first.
export default defineConfig({
  test: {
    include: ['dist/test/**/*.test.js'],
    exclude: configDefaults.exclude.filter((pattern) => !pattern.includes('dist')),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
