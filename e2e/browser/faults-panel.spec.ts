// The demo page's fault panel on a running guest: a media error injected on a block range from the
// panel fails dd in the guest, the panel lists the fault with its hits and the trace shows them;
// a bad field is refused naming it; Clear all makes the blocks readable again. One resume.

import { expect, test } from "@playwright/test";
import { BOOT_TIMEOUT, runInGuest, waitForPrompt } from "./page-guest.ts";

test.use({ trace: "off" });

test("a fault injected from the panel fails dd in the guest, shows in the list and the trace, and clears", async ({ page }) => {
  test.setTimeout(BOOT_TIMEOUT + 120_000);
  await page.goto("/");
  await waitForPrompt(page);
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");

  // The panel opens on demand.
  await expect(page.locator("#fault-inject")).toBeHidden();
  await page.click("#faults-panel > summary");
  await page.fill("#fault-probability", "2");
  await page.click("#fault-inject");
  await expect(page.locator("#fault-message")).toContainText("probability must be a number in 0..1");
  await page.fill("#fault-probability", "");

  await page.selectOption("#fault-op", "read");
  await page.fill("#fault-lba", "1024");
  await page.fill("#fault-blocks", "8");
  await page.selectOption("#fault-effect", "media-error");
  await page.click("#fault-inject");
  await expect(page.locator("#fault-message")).toContainText("fault 1 injected");
  const dd = await runInGuest(page, "dd if=/dev/nvme0n1 of=/dev/null bs=4096 skip=128 count=1 iflag=direct 2>&1");
  expect(dd.status).not.toBe(0);
  expect(dd.out).toContain("No data available");
  const fired = await page.evaluate(() => window.nvmeDemo.nvme!.list()[0].fired);
  expect(fired).toBeGreaterThanOrEqual(1);
  await expect(page.locator("#fault-list")).toContainText(`{"op":"read","lba":[1024,8],"status":"media-error"}${fired}`);
  await page.check("#trace-only-faults");
  await expect(page.locator("#command-trace")).toContainText("Unrecovered Read Error (0x281)  fault 1");

  // A hang that refuses Abort, on blocks nothing reads: listed with both fields.
  await page.fill("#fault-lba", "4096");
  await page.selectOption("#fault-effect", "hang-refuse-abort");
  await page.click("#fault-inject");
  await expect(page.locator("#fault-message")).toContainText("fault 2 injected");
  await expect(page.locator("#fault-list")).toContainText(`{"op":"read","lba":[4096,8],"hang":true,"refuseAbort":true}0`);

  await page.click("#fault-clear-all");
  await expect(page.locator("#fault-message")).toContainText("every fault cleared");
  await expect(page.locator("#fault-list tr")).toHaveCount(0);
  expect((await runInGuest(page, "dd if=/dev/nvme0n1 of=/dev/null bs=4096 skip=128 count=1 iflag=direct 2>&1")).status).toBe(0);
});
