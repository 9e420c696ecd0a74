// The demo page's boot lifecycle: with ?boot=cold it boots the bundled image from the NVMe
// controller (SeaBIOS and syslinux on the VGA screen) instead of resuming its saved state, an
// emulator exception shows on the page, which then boots again, a user-picked image that SeaBIOS
// cannot boot fails within seconds in SeaBIOS's words, and an image URL that answers a web page
// says so. One page for the tests of this file.

import { expect, test, type Page } from "@playwright/test";
import { BOOT_TIMEOUT, counters as countersOf, serialText as serialOf, type Counters } from "./page-guest.ts";

test.describe.configure({ mode: "serial" });
// No trace: it would record the 200 MB image download, and chunks of the one page shared by
// all tests went missing at its close.
test.use({ trace: "off" });


let page: Page;

const counters = (): Promise<Counters> => countersOf(page);
const serialText = (): Promise<string> => serialOf(page);


/** Waits until the page's state is one of `states` (the error text, if any, fails the test). */
async function waitForState(states: string[], timeout = BOOT_TIMEOUT): Promise<void> {
  await page.waitForFunction((s) => s.includes(window.nvmeDemo?.state) || window.nvmeDemo?.state === "error", states, { timeout, polling: 250 });
  const { state, error } = await page.evaluate(() => ({ state: window.nvmeDemo.state, error: window.nvmeDemo.error }));
  expect(error ?? "", "page error").toBe("");
  expect(states).toContain(state);
}

let loads = 0;

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  // The dev server's HMR socket stays local to the page: a file edited or a dependency
  // re-optimised while the suite runs must not reload the page (and its guest) mid-test.
  await page.routeWebSocket(/.*/, () => {});
  page.on("load", () => loads++);
  await page.goto("/?boot=cold");
});

test.afterEach(() => {
  expect(loads, "the page reloaded during the test").toBe(1);
});

test.afterAll(async () => {
  await page?.close();
});

test("the page boots the bundled image from the NVMe disk", async () => {
  test.setTimeout(BOOT_TIMEOUT);
  await waitForState(["booting", "running"]);
  await expect(page.locator("#status")).toHaveText(/booting|running/);
  // SeaBIOS's int13 and syslinux read the disk through the controller. Linux booting to a shell
  // is for the guest tests (guest.spec.ts) and the page's own disk tests (disk-page.spec.ts).
  await expect(page.locator("#screen .screen-text")).toContainText("Booting from Hard Disk", { timeout: 60_000 });
  await expect(page.locator("#screen .screen-text")).toContainText("SYSLINUX", { timeout: 60_000 });
  expect((await counters()).readCommands).toBeGreaterThan(0);
  await test.info().attach("page", { body: await page.screenshot(), contentType: "image/png" });
});

test("an exception inside the emulator shows on the page, and the page boots again", async () => {
  test.setTimeout(120_000);
  await page.evaluate(() => {
    const e = window.nvmeDemo.emulator as unknown as { v86: { cpu: { run_hardware_timers: () => number } } };
    e.v86.cpu.run_hardware_timers = () => {
      throw new Error("injected failure in the main loop");
    };
  });
  await page.waitForFunction(() => window.nvmeDemo.state === "error", undefined, { timeout: 30_000 });
  await expect(page.locator("#error")).toBeVisible();
  await expect(page.locator("#error-text")).toContainText("injected failure in the main loop");
  await expect(page.locator("#status")).toHaveText(/error/);

  const boots = await page.evaluate(() => window.nvmeDemo.boots);
  await page.locator("#retry").click();
  await page.waitForFunction((n) => window.nvmeDemo.boots > n, boots);
  await waitForState(["booting", "running"], 60_000);
  await expect(page.locator("#error")).toBeHidden();
  await expect(page.locator("#screen .screen-text")).toContainText("Booting from Hard Disk", { timeout: 60_000 });
});

test("a user-picked image SeaBIOS cannot boot fails within 5 s in SeaBIOS's words", async () => {
  test.setTimeout(120_000);
  // 1 MiB of zeros: SeaBIOS's NVMe driver finds the disk, reads its MBR, and finds no boot signature.
  const boots = await page.evaluate(() => window.nvmeDemo.boots);
  await page.locator("#image-file").setInputFiles({ name: "blank.img", mimeType: "application/octet-stream", buffer: Buffer.alloc(1 << 20) });
  await page.waitForFunction((n) => window.nvmeDemo.boots > n && ["booting", "running"].includes(window.nvmeDemo.state), boots, { timeout: 30_000, polling: 100 });
  const started = Date.now();
  await page.waitForFunction(() => window.nvmeDemo.state === "error", undefined, { timeout: 30_000, polling: 100 });
  const seconds = (Date.now() - started) / 1000;
  test.info().annotations.push({ type: "SeaBIOS gave up after", description: `${seconds.toFixed(1)} s` });
  // The target is 5 s (SeaBIOS's own pace: its boot menu wait, then each device); two cores
  // shared with other work stretch emulated time, so the test allows three times that.
  expect(seconds).toBeLessThanOrEqual(15);
  await expect(page.locator("#image-name")).toHaveText("blank.img");
  await expect(page.locator("#status")).toContainText("SeaBIOS cannot boot blank.img");
  await expect(page.locator("#status")).toContainText("No bootable device");
  await expect(page.locator("#status")).toContainText("not a bootable disk");
  expect(await serialText()).not.toContain("V86NVME-ROOT-READY");
  const c = await counters();
  expect(c.adminCommands).toBeGreaterThan(0);
  expect(c.readCommands).toBeGreaterThan(0);
});

test("an image URL that answers with a web page is named as such", async () => {
  test.setTimeout(60_000);
  // The dev server answers an unknown path with its index page (200, text/html).
  await page.locator("#source-url").check();
  await page.locator("#image-url").fill("/guest/no-such-image.img");
  for (const read of ["#read-lazy", "#read-download"]) {
    await page.locator(read).check();
    const boots = await page.evaluate(() => window.nvmeDemo.boots);
    await page.locator("#disk-boot").click();
    await page.waitForFunction((n) => window.nvmeDemo.boots > n && window.nvmeDemo.state === "error", boots, { timeout: 30_000 });
    await expect(page.locator("#status")).toContainText("/guest/no-such-image.img serves a web page, not a disk image");
  }
  await expect(page.locator("#status")).toContainText("/guest/no-such-image.img serves a web page, not a disk image");
});
