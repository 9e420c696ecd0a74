// vitest config for the Node end-to-end tests (Linux booted from the NVMe controller in v86):
//   npx vitest run --config e2e/node/vitest.config.ts
// One file boots (or resumes) one guest, which keeps a core busy: two files run at once, one per
// core of a 2-core CI machine.
// V86_E2E_V86=DIR runs them on the v86 package in DIR instead (npm run test:v86-oldest): `v86`
// resolves to its entry here, its wasm and version come from test/project-guest/guest.ts.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const v86Dir = process.env.V86_E2E_V86 ? resolve(process.env.V86_E2E_V86) : undefined;
const v86Entry = v86Dir && join(v86Dir, (JSON.parse(readFileSync(join(v86Dir, "package.json"), "utf8")) as { main?: string }).main ?? "build/libv86.mjs");

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  resolve: { alias: v86Entry ? [{ find: /^v86$/, replacement: v86Entry }] : [] },
  test: {
    include: ["e2e/node/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 240_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
