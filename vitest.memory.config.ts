import { defineConfig } from 'vitest/config';

// The memory suite (`npm run test:memory`): tests that measure a real process's RSS. One file at a time and
// outside `npm test`, so no other suite's processes share the machine while they measure.
export default defineConfig({
  test: {
    include: ['test/memory/**/*.test.ts'],
    testTimeout: 60000,
    hookTimeout: 60000,
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['test/global-setup.ts'],
  },
});
