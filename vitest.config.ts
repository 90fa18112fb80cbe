import { defineConfig } from 'vitest/config';

// Integration and end-to-end tests share two cores with Prometheus, Alertmanager and Redis:
// files run one at a time, and tests poll with deadlines instead of sleeping.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
