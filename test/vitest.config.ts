import { defineConfig } from 'vitest/config';

// Node tests and the real-browser tests (which drive Debian's Chromium through playwright-core
// from Node) run in one `vitest run`. Browser suites are in test/browser/ and take longer.
const config: ReturnType<typeof defineConfig> = defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    // A private directory for the PostgreSQL cluster the database suites start on first use.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores in CI: browser suites launch Chromium, so keep file parallelism modest.
    maxWorkers: 2,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});

export default config;
