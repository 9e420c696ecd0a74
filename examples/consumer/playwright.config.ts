// The example's tests, in Debian's Chromium (never a downloaded browser), headless. The page test
// opens the built page served by `vite preview` on 127.0.0.1 (PORT, set by the packaging test).
import { defineConfig } from "@playwright/test";

const PORT = Number(process.env.PORT ?? 4173);

export default defineConfig({
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
  },
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
