import { defineConfig } from 'vitest/config';

// Tests that start real peers (promtool, Prometheus, Chromium, python3-websockets,
// helm, podman…), the built agent or npm installing the packed tarball: the `e2e`
// project. Everything else is the `unit` project, which needs nothing but Node
// (`npm run test:unit`).
const E2E = [
  'test/**/*.e2e.test.ts',
  'test/package.test.ts',
  'test/alerts.test.ts',
  'test/alerts-scenarios.test.ts',
  'test/helm.test.ts',
  'test/dockerfile.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: end-to-end suites spawn real peers, so keep parallelism modest.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: E2E } },
      { extends: true, test: { name: 'e2e', include: E2E } },
    ],
  },
});
