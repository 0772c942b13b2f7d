import { defineConfig } from 'vitest/config';

// End-to-end suites: real third-party clients (curl, wget, Python requests, ab) and a real redis-server,
// installed by .ci/run. Run with `npm run test:e2e`.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 60000,
    hookTimeout: 60000,
    pool: 'forks',
    fileParallelism: false,
  },
});
