import { defineConfig } from 'vitest/config';

// Test files each boot their own stack (five embedded PGlite instances or five
// PostgreSQL databases), so they run in separate processes, two at a time to
// match the two-core CI machines.
export default defineConfig({
  // Node resolves `graphql` to its CommonJS build (no exports map), as the
  // Apollo packages do; Vite would pick the ESM build and load graphql twice.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts', 'subgraphs/*/test/**/*.test.ts', 'lib/**/*.test.ts', 'gateway/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Services log JSON lines (lib/runtime/logger.ts); tests that read logs pass their own stream.
    // One fixed seed for every property test (PROPERTY_SEED to explore others).
    setupFiles: ['test/support/property-seed.ts'],
    // The gateway's bulk export is off (no store of its own) except where a test turns it on (test/bulk-export.e2e.test.ts).
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', EXPORT_DATABASE_URL: process.env.EXPORT_DATABASE_URL ?? 'off' },
  },
});
