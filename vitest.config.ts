import * as path from 'node:path';
import { defineConfig } from 'vitest/config';

// Real-tool suites are named *.conformance.test.ts and sit beside the unit tests of what they check.
const CONFORMANCE = 'test/**/*.conformance.test.ts';

export default defineConfig({
  // The package's own names, as examples import them (tsconfig.json maps them the same way for tsc and tsx).
  resolve: {
    alias: [
      { find: /^shipshape$/, replacement: path.resolve(__dirname, 'lib/index.ts') },
      { find: /^shipshape\/pulumi$/, replacement: path.resolve(__dirname, 'lib/pulumi/index.ts') },
    ],
  },
  test: {
    reporters: ['default', './test/support/conformance-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [CONFORMANCE],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'conformance',
          include: [CONFORMANCE],
          // Real-tool suites start daemons and servers: give them room, and run their files one at a time.
          testTimeout: 120_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
