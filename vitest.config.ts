import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'ebpf/**/*.test.ts'],
    // Exporters run in worker threads, which need the worker entry as JavaScript.
    globalSetup: ['test/support/worker-bundle.ts'],
    // Kernel and process tests share 2 CPUs and global kernel state: run files one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
