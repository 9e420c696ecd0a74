// Browser end-to-end tests: Debian's Chromium (never a downloaded browser), headless and kept
// off the network, against the vite dev server on 127.0.0.1.
import { defineConfig } from "@playwright/test";

const PORT = 5173;
const CI = !!process.env.CI;

export default defineConfig({
  testDir: "e2e/browser",
  testMatch: "**/*.spec.ts",
  // Each file boots its own guest (15-40 s on two cores): files run one at a time so that
  // boots do not compete for the CPU; the tests inside a file share one boot.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 240_000,
  expect: { timeout: 10_000 },
  reporter: CI ? [["list"], ["html", { open: "never" }]] : "list",
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    headless: true,
    viewport: { width: 1400, height: 900 },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium" }],
  webServer: {
    command: `npx vite --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: !CI,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
