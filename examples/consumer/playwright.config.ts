// The example's tests, in Debian's Chromium (never a downloaded browser), headless. The page test
// opens the built page served by `vite preview` on 127.0.0.1 (PORT, set by the packaging test);
// the fixture's tests boot the image and BIOS files named by V86NVME_IMAGE, V86NVME_BIOS and
// V86NVME_VGABIOS.
import { defineConfig } from "@playwright/test";
import type { GuestOptions } from "v86-nvme/playwright";

const PORT = Number(process.env.PORT ?? 4173);

export default defineConfig<GuestOptions>({
  testDir: "tests",
  // Every guest boot takes 20-45 s on two cores: one worker, so boots do not compete for the CPU.
  workers: 1,
  retries: 0,
  timeout: 240_000,
  reporter: "list",
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    headless: true,
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"],
    },
    // The guest of the fixture's tests (tests/fixture/): v86-nvme/playwright boots it once per worker.
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
