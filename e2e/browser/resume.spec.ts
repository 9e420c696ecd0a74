// The demo page resumes the bundled guest from its saved state (public/guest/disk.img.state.zst,
// `npm run make:state -- --image public/guest/disk.img`): a clean load says nothing on the console,
// shows the time to the shell prompt and a cold boot link, and `nvme list` runs in the resumed
// guest. A damaged state, or one made for another image, is refused in words and the page boots
// cold instead.

import { existsSync, readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import { PROMPT, runInGuest } from "./page-guest.ts";

const STATE_FILE = "public/guest/disk.img.state.zst";
const STATE_URL = "/guest/disk.img.state.zst";

// No trace: it would record the 14 MB state and the image's Range requests.
test.use({ trace: "off" });
test.skip(!existsSync(STATE_FILE), `no saved state: make one with npm run make:state -- --image public/guest/disk.img`);

/** Console errors and warnings of a page, from its first load on. */
function watchConsole(page: Page): string[] {
  const said: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") said.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => said.push(`pageerror: ${e.message}`));
  return said;
}

/** Waits until the page shows a cold boot's notice or error; returns the notice. */
async function coldBootNotice(page: Page): Promise<string> {
  await page.waitForFunction(() => !document.getElementById("notice")!.hidden || window.nvmeDemo?.state === "error", undefined, { timeout: 30_000, polling: 50 });
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  return (await page.locator("#notice").textContent()) ?? "";
}

test("a clean load resumes the saved state: no console noise, the time to the prompt shown, nvme list runs", async ({ page }) => {
  test.setTimeout(120_000);
  const said = watchConsole(page);
  const requests: string[] = [];
  page.on("requestfailed", (r) => requests.push(`failed: ${r.url()}`));
  page.on("response", (r) => r.status() >= 400 && requests.push(`${r.status()}: ${r.url()}`));
  // The page's server sends the state with Content-Encoding: zstd (vite.config.ts): the browser decompresses it.
  const encoding = page.waitForResponse((r) => r.url().endsWith(STATE_URL)).then((r) => r.headers()["content-encoding"]);
  // index.html's first script starts the download in a worker; the page takes it over, not asking again.
  let stateRequests = 0;
  page.context().on("request", (r) => void (r.url().endsWith(STATE_URL) && stateRequests++));
  await page.routeWebSocket(/.*/, () => {}); // no HMR reload mid-test
  await page.goto("/");
  expect(await encoding).toBe("zstd");
  await page.waitForFunction(() => window.nvmeDemo?.promptMs !== undefined || window.nvmeDemo?.state === "error", undefined, { timeout: 90_000, polling: 100 });
  const { resumed, promptMs, timings, error } = await page.evaluate(() => {
    const d = window.nvmeDemo;
    return { resumed: d.resumed, promptMs: d.promptMs, timings: d.timings, error: d.error ?? "" };
  });
  expect(error).toBe("");
  expect(resumed).toBe(true);
  expect(stateRequests, "requests for the state").toBe(1);
  test.info().annotations.push({ type: "page open → shell prompt", description: `${(promptMs! / 1000).toFixed(2)} s (${JSON.stringify(timings)})` });
  await expect(page.locator("#boot-time")).toBeVisible();
  await expect(page.locator("#boot-time")).toContainText(/shell prompt \d+\.\d s after opening the page \(resumed from the saved state/);
  await expect(page.locator("#boot-mode")).toHaveText("cold boot");
  expect(await page.locator("#boot-mode").getAttribute("href")).toContain("boot=cold");
  await expect(page.locator("#status")).toContainText("resumed from the saved state");
  await expect(page.locator("#notice")).toBeHidden();
  // The console panel holds the guest's transcript up to the state, then the prompt again; not
  // the commands that made the state (exec()'s framing, zeroing free memory).
  const transcript = await page.evaluate(() => window.nvmeDemo.serialText());
  expect(transcript).toContain(PROMPT);
  expect(transcript).not.toMatch(/__v86|drop_caches/);

  const list = await runInGuest(page, "nvme list");
  expect(list.status).toBe(0);
  expect(list.out).toMatch(/\/dev\/nvme0n1 /);
  // The disk stays lazy over HTTP: a few MiB of the image (161 MiB) fetched.
  const usage = await page.evaluate(() => window.nvmeDemo.diskUsage());
  expect(usage).toBeDefined();
  const detail = (await page.locator("#disk-detail").textContent()) ?? "";
  expect(detail).toMatch(/fetched/);
  await test.info().attach("resumed", { body: await page.screenshot(), contentType: "image/png" });
  expect(requests, "failing requests").toEqual([]);
  expect(said, "console errors and warnings").toEqual([]);
});

test("a slow state download shows its progress bar, which ends with the figures once the guest runs", async ({ page }) => {
  test.setTimeout(120_000);
  // Chromium's network throttling (it covers the page's download worker): ~4 s for the state.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 20, downloadThroughput: 2_000_000, uploadThroughput: -1 });
  await page.routeWebSocket(/.*/, () => {});
  await page.goto("/");
  const row = page.locator('[data-progress="state"]');
  await expect(row).toContainText(/downloading the saved state: [\d.]+ (B|KiB|MiB) of [\d.]+ MiB \(\d+ %\)/, { timeout: 30_000 });
  const shownAt = await page.evaluate(() => performance.now());
  await page.waitForFunction(() => window.nvmeDemo?.promptMs !== undefined || window.nvmeDemo?.state === "error", undefined, { timeout: 90_000, polling: 100 });
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  expect(await page.evaluate(() => window.nvmeDemo.resumed)).toBe(true);
  await expect(row).toContainText(/saved state: [\d.]+ MiB, downloaded in \d+\.\d\d s/);
  await expect(row).toBeHidden({ timeout: 10_000 });
  test.info().annotations.push({ type: "bar shown", description: `${Math.round(shownAt)} ms after page open` });
});

test("a state served as a plain zstd file (no Content-Encoding) is decoded in a worker and resumes", async ({ page }) => {
  test.setTimeout(120_000);
  const said = watchConsole(page);
  await page.route(`**${STATE_URL}`, (route) => route.fulfill({ status: 200, body: readFileSync(STATE_FILE), contentType: "application/octet-stream" }));
  await page.routeWebSocket(/.*/, () => {});
  await page.goto("/");
  await page.waitForFunction(() => window.nvmeDemo?.promptMs !== undefined || window.nvmeDemo?.state === "error", undefined, { timeout: 90_000, polling: 100 });
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  expect(await page.evaluate(() => window.nvmeDemo.resumed)).toBe(true);
  await expect(page.locator("#status")).toContainText("resumed from the saved state");
  expect((await runInGuest(page, "true")).status).toBe(0);
  expect(said, "console errors and warnings").toEqual([]);
});

for (const damage of ["truncated", "corrupted"] as const) {
  test(`a ${damage} state gives a clear message at once and the page boots cold`, async ({ page }) => {
    test.setTimeout(120_000);
    const good = readFileSync(STATE_FILE);
    let body: Buffer;
    if (damage === "truncated") body = good.subarray(0, Math.floor(good.length * 0.6));
    else {
      body = Buffer.from(good);
      for (let i = 0; i < 64; i++) body[Math.floor(body.length / 3) + i * 4099] ^= 0x5a;
    }
    await page.route(`**${STATE_URL}`, (route) => route.fulfill({ status: 200, body, contentType: "application/octet-stream" }));
    await page.routeWebSocket(/.*/, () => {});
    await page.goto("/");
    const note = await coldBootNotice(page);
    const timings = await page.evaluate(() => window.nvmeDemo.timings);
    expect(note).toMatch(/^Cold boot: the saved state \/guest\/disk\.img\.state\.zst is damaged: /);
    test.info().annotations.push({ type: "message", description: note });
    test.info().annotations.push({ type: "message after", description: `${JSON.stringify(timings)} ms since page open` });
    expect(await page.evaluate(() => window.nvmeDemo.resumed)).toBe(false);
    // Cold: SeaBIOS boots the image from NVMe.
    await expect(page.locator("#screen .screen-text")).toContainText("Booting from Hard Disk", { timeout: 60_000 });
    expect(await page.evaluate(() => window.nvmeDemo.state)).toMatch(/booting|running/);
  });
}

test("a state made for another image is refused naming what differs, and the page boots cold", async ({ page }) => {
  test.setTimeout(120_000);
  // The page learns the image's identity from index.html's manifest: give it another image's.
  await page.route(/\/(\?.*)?$/, async (route) => {
    const res = await route.fetch();
    const html = (await res.text()).replace(/"id":"[0-9a-f]{16}"/, '"id":"0123456789abcdef"');
    await route.fulfill({ response: res, body: html });
  });
  await page.routeWebSocket(/.*/, () => {});
  await page.goto("/");
  const note = await coldBootNotice(page);
  expect(note).toContain("was made with another image: id ");
  expect(note).toContain("(this guest's image: 0123456789abcdef)");
  await expect(page.locator("#screen .screen-text")).toContainText("Booting from Hard Disk", { timeout: 60_000 });
});

test("?boot=cold boots the image without asking for the state", async ({ page }) => {
  test.setTimeout(120_000);
  const asked: string[] = [];
  page.on("request", (r) => r.url().includes(".state.zst") && asked.push(r.url()));
  await page.routeWebSocket(/.*/, () => {});
  await page.goto("/?boot=cold");
  await expect(page.locator("#screen .screen-text")).toContainText("Booting from Hard Disk", { timeout: 60_000 });
  await expect(page.locator("#boot-mode")).toHaveText("resume the saved state");
  expect(asked).toEqual([]);
  expect(await page.evaluate(() => window.nvmeDemo.resumed)).toBe(false);
});
