// The example's tests, in Debian's Chromium (never a downloaded browser), headless. The page test
// opens the built page served by `vite preview` on 127.0.0.1 (PORT, set by the packaging test);
// the fixture's tests run the image and BIOS files named by V86NVME_IMAGE, V86NVME_BIOS and
// V86NVME_VGABIOS (unset: the guest kit's). Playwright's own defineConfig takes the fixture's
// options (image, bios, ...): v86-nvme/playwright declares them.
import { defineConfig } from "@playwright/test";

const PORT = Number(process.env.PORT ?? 4173);

export default defineConfig({
  testDir: "tests",
  // Each worker resumes the guest from a saved state in about a second (the first run makes that
  // state once, under Node, while the other workers wait), so workers no longer compete with boots.
  workers: 2,
  fullyParallel: true,
  retries: 0,
  timeout: 240_000,
  // The JSON report: check-trace-report.mjs reads a failed test's attachments from it.
  reporter: [["list"], ["json", { outputFile: "playwright-report/report.json" }]],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    headless: true,
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"],
    },
    // The guest of the fixture's tests (tests/fixture/): each worker resumes its saved state, made
    // once into node_modules/.cache/v86-nvme/states (V86NVME_STATE_CACHE: elsewhere; cache it in CI).
    image: process.env.V86NVME_IMAGE,
    bios: process.env.V86NVME_BIOS,
    vgaBios: process.env.V86NVME_VGABIOS,
  },
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
