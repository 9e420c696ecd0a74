// The demo page as `npm run build:page` makes it for a web server (vite preview serves it here, with
// the state as Content-Encoding: zstd): index.html's first script starts the state's download in a
// worker made from the code vite.config.ts put into the page, before the page's modules load, and
// the page resumes from that one download; the same script fetches v86's wasm and the BIOSes, and
// the page fetches again whichever of them failed.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { build, preview, type PreviewServer } from "vite";

const ROOT = join(import.meta.dirname, "../..");
const STATE_URL = "/guest/disk.img.state.zst";

test.use({ trace: "off" });
test.skip(!existsSync(join(ROOT, "public", STATE_URL)), "no saved state: make one with npm run make:state -- --image public/guest/disk.img");
test.describe.configure({ mode: "serial" });

let out = "";
let server: PreviewServer | undefined;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  out = mkdtempSync(join(tmpdir(), "v86-nvme-page-"));
  const configFile = join(ROOT, "vite.config.ts");
  await build({ root: ROOT, configFile, logLevel: "error", build: { outDir: out, emptyOutDir: true, copyPublicDir: false, sourcemap: false } });
  // The public files, linked (the image is 170 MB); guest/ already holds the page manifest.
  for (const sub of ["bios", "guest"]) {
    mkdirSync(join(out, sub), { recursive: true });
    for (const f of readdirSync(join(ROOT, "public", sub))) if (!existsSync(join(out, sub, f))) symlinkSync(join(ROOT, "public", sub, f), join(out, sub, f));
  }
  server = await preview({ root: ROOT, configFile, logLevel: "error", build: { outDir: out }, preview: { port: 0, strictPort: false, open: false } });
});

test.afterAll(async () => {
  await server?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

test("the built page downloads the state in the worker its first script starts, and resumes", async ({ page }) => {
  test.setTimeout(120_000);
  const base = server!.resolvedUrls!.local[0];
  const said: string[] = [];
  page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && said.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => said.push(`pageerror: ${e.message}`));
  const asked: string[] = [];
  page.context().on("request", (r) => asked.push(new URL(r.url()).pathname));
  await page.goto(base);
  await page.waitForFunction(() => window.nvmeDemo?.promptMs !== undefined || window.nvmeDemo?.state === "error", undefined, { timeout: 90_000, polling: 100 });
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  expect(await page.evaluate(() => window.nvmeDemo.resumed)).toBe(true);
  expect(asked.filter((p) => p === STATE_URL), "requests for the state").toHaveLength(1);
  // The worker's code came with the page: its script is not asked for.
  expect(asked.filter((p) => /state-download/.test(p)), "requests for the worker's script").toEqual([]);
  // v86's wasm and the BIOSes, which the first script fetches too, are asked for once.
  for (const file of [/\/assets\/v86-[\w-]+\.wasm$/, /\/bios\/bios-256k\.bin$/, /\/bios\/vgabios-stdvga\.bin$/]) {
    expect(asked.filter((p) => file.test(p)), `requests for ${file}`).toHaveLength(1);
  }
  test.info().annotations.push({ type: "page open → shell prompt", description: `${((await page.evaluate(() => window.nvmeDemo.promptMs))! / 1000).toFixed(2)} s` });
  expect(said, "console errors and warnings").toEqual([]);
});

test("when what the first script fetched early fails, the page fetches it again and resumes", async ({ page }) => {
  test.setTimeout(120_000);
  const base = server!.resolvedUrls!.local[0];
  const failed: string[] = [];
  // The first request for each of v86's wasm and the BIOS (the first script's) fails.
  await page.route(/\/(assets\/v86-[\w-]+\.wasm|bios\/bios-256k\.bin)$/, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (failed.includes(path)) return route.continue();
    failed.push(path);
    return route.fulfill({ status: 503, body: "busy" });
  });
  await page.goto(base);
  await page.waitForFunction(() => window.nvmeDemo?.promptMs !== undefined || window.nvmeDemo?.state === "error", undefined, { timeout: 90_000, polling: 100 });
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  expect(await page.evaluate(() => window.nvmeDemo.resumed)).toBe(true);
  expect(failed.map((p) => p.replace(/-[\w-]+\.wasm$/, ".wasm")).sort()).toEqual(["/assets/v86.wasm", "/bios/bios-256k.bin"]);
});
