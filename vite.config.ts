import { defineConfig } from "vitest/config";

export default defineConfig({
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true },
  // The demo page (`npm run build:page`); dist/ is the library's (vite.lib.config.ts).
  build: { target: "es2022", sourcemap: true, outDir: "build/page" },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
