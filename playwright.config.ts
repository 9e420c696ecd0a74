// Browser end-to-end tests in Debian's Chromium (never a downloaded browser), headless and kept
// off the network. Two projects: "page" drives the demo page on the vite dev server on 127.0.0.1;
// "guest" runs the guest through the Playwright fixture (src/playwright/, its page needs no
// server; it loads the library build in dist/).
import { defineConfig } from "@playwright/test";
import type { GuestOptions } from "./src/playwright/index.ts";

// PW_PORT: another port for the page's dev server, when another checkout's server holds 5173.
const PORT = Number(process.env.PW_PORT ?? 5173);
const CI = !!process.env.CI;

export default defineConfig<GuestOptions>({
  testDir: "e2e/browser",
  testMatch: "**/*.spec.ts",
  // Each page file boots its own guest (15-40 s on two cores), the fixture one per worker: files
  // run one at a time so that boots do not compete for the CPU.
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
        // Chromium (156) opens the omnibox popup's WebUI in a renderer of its own for every new
        // window, which each test's new context is: ~1 s of CPU beside the page under test on 2
        // cores (a page the user opens in the browser they have running shares the one it has).
        "--disable-features=WebUIOmniboxPopup,WebUIOmniboxFullPopup,WebUIOmniboxAimPopup",
      ],
    },
  },
  projects: [
    { name: "page", testIgnore: "**/guest*.spec.ts" },
    {
      name: "guest",
      testMatch: "**/guest*.spec.ts",
      use: {
        image: "public/guest/disk.img",
        bios: "public/bios/bios-256k.bin",
        vgaBios: "public/bios/vgabios-stdvga.bin",
      },
    },
  ],
  webServer: {
    command: `npx vite --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: !CI,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
