import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites that need system packages (redis-server, curl, python3-requests, ab) live in test/e2e, and the
    // RSS-measuring ones in test/memory; .ci/run runs each with its own command.
    exclude: ['test/e2e/**', 'test/reliability/**', 'test/memory/**', 'node_modules/**'],
    testTimeout: 20000,
    hookTimeout: 20000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});
