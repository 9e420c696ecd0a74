// The example's fixture suite (examples/consumer/tests/fixture) run against this repository's
// library build in dist/, for bench/fixture.ts: its `v86-nvme/playwright` import is mapped to
// dist/playwright.js, where the example project gets it from the installed tarball.
import { defineConfig } from "../src/playwright/index.ts";

export default defineConfig({
  testDir: "../examples/consumer/tests/fixture",
  tsconfig: "./fixture-suite.tsconfig.json",
  outputDir: "../test-results/fixture-suite",
  // FIXTURE_WORKERS: the example's own 2, or 1 for the figures of one worker.
  workers: Number(process.env.FIXTURE_WORKERS ?? 2),
  fullyParallel: true,
  retries: 0,
  timeout: 240_000,
  use: {
    headless: true,
    launchOptions: { executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] },
    image: "public/guest/disk.img",
    bios: "public/bios/bios-256k.bin",
    vgaBios: "public/bios/vgabios-stdvga.bin",
  },
});
