import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// In-process tests run core and the test kit from source, so one copy of each module exists
// in a test (no dist/src split). Subprocess tests (CLI, crash) and Piscina workers use dist/.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@reactive-fabric\/core$/, replacement: src('./core/src/index.ts') },
      { find: /^@reactive-fabric\/core\/runtime$/, replacement: src('./core/src/runtime.ts') },
      { find: /^@reactive-fabric\/test-kit$/, replacement: src('./packages/test-kit/src/index.ts') },
      { find: /^@reactive-fabric\/test-kit\/fakes$/, replacement: src('./packages/test-kit/src/fakes/index.ts') },
    ],
  },
  test: {
    include: ['core/test/**/*.test.ts', 'plugins/*/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
