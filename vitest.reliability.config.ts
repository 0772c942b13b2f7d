import { defineConfig } from 'vitest/config';

// The reliability suite (`npm run test:reliability`, issue 13): attacks and faults against real trackgate
// processes, bounded in count and time; one file at a time so floods do not measure each other.
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 120000,
    hookTimeout: 60000,
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['test/reliability/global-setup.ts'],
  },
});
