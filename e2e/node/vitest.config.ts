// vitest config for the Node end-to-end tests (Linux booted from the NVMe controller in v86):
//   npx vitest run --config e2e/node/vitest.config.ts
// One file boots one guest; files run one at a time (each boot keeps a core busy).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["e2e/node/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
