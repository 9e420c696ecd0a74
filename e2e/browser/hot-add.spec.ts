// Hot-adding disks from the demo page to a running guest: an image file picked in the namespace
// panel appears as /dev/nvme0n2 with the image's bytes, without a reboot or a rescan in the guest
// (the controller's Namespace Attribute Changed notice), the panel lists it with its backend and
// size, and Remove takes it away again; then the same for blank disks in memory and in browser
// storage. One boot.

import { createHash } from "node:crypto";
import { expect, test, type Page } from "@playwright/test";
import { BOOT_TIMEOUT, imageBytes, runInGuest, waitForPrompt } from "./page-guest.ts";

test.use({ trace: "off" });

const MiB = 1 << 20;
const IMAGE_BYTES = imageBytes();

/** 4 MiB no two sectors of which are alike. */
function image(): Buffer {
  const b = Buffer.alloc(4 * MiB);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i);
  return b;
}

/** Polls a guest command until its output matches `re` (or stops matching, `present` false). */
async function guestShows(page: Page, cmd: string, re: RegExp, present = true): Promise<string> {
  let out = "";
  await expect.poll(async () => {
    out = (await runInGuest(page, cmd)).out;
    return re.test(out);
  }, { timeout: 60_000, intervals: [500] }).toBe(present);
  return out;
}

test("a picked image and a blank disk become /dev/nvme0n2 in the running guest and go away again", async ({ page }) => {
  test.setTimeout(BOOT_TIMEOUT + 180_000);
  await page.goto("/");
  await waitForPrompt(page);
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  const bootsBefore = await page.evaluate(() => window.nvmeDemo.boots);
  expect(await page.evaluate(() => window.nvmeDemo.namespaces().map((n) => n.nsid))).toEqual([1]);

  // The panel opens on demand.
  await expect(page.locator("#ns-add-blank")).toBeHidden();
  await page.click("#ns-panel > summary");
  const bytes = image();
  await page.setInputFiles("#ns-file", { name: "extra.img", mimeType: "application/octet-stream", buffer: bytes });
  await expect(page.locator("#ns-message")).toContainText("namespace 2 added");
  await guestShows(page, "cat /sys/block/nvme0n2/size", /^8192$/);
  const md5 = createHash("md5").update(bytes.subarray(0, MiB)).digest("hex");
  const seen = (await runInGuest(page, "dd if=/dev/nvme0n2 bs=1M count=1 iflag=direct 2>/dev/null | md5sum")).out.split(/\s+/)[0];
  expect(seen).toBe(md5);
  expect(await page.evaluate(() => window.nvmeDemo.namespaces().map((n) => [n.nsid, n.backend, n.bytes, n.attached]))).toEqual([
    [1, "disk.img (the boot disk)", IMAGE_BYTES, true],
    [2, "extra.img", 4 * MiB, true],
  ]);
  await expect(page.locator("#ns-list")).toContainText("/dev/nvme0n2");
  await expect(page.locator("#ns-list")).toContainText("extra.img");

  await page.click('#ns-list button[data-remove-nsid="2"]');
  await expect(page.locator("#ns-message")).toContainText("namespace 2 removed");
  await guestShows(page, "ls /sys/block", /nvme0n2/, false);
  expect(await page.evaluate(() => window.nvmeDemo.namespaces().length)).toBe(1);

  // A blank disk (in memory: the persistent option is off), written and read back by the guest.
  await page.fill("#ns-blank-mib", "8");
  await page.click("#ns-add-blank");
  await guestShows(page, "cat /sys/block/nvme0n2/size", /^16384$/);
  await runInGuest(page, "echo hot-added > /tmp/m && dd if=/tmp/m of=/dev/nvme0n2 bs=512 count=1 conv=sync oflag=direct 2>/dev/null");
  expect((await runInGuest(page, "dd if=/dev/nvme0n2 bs=512 count=1 iflag=direct 2>/dev/null | head -c 9")).out).toBe("hot-added");
  expect(await page.evaluate(() => window.nvmeDemo.namespaces()[1].backend)).toBe("blank, in memory");
  await page.click('#ns-list button[data-remove-nsid="2"]');
  await guestShows(page, "ls /sys/block", /nvme0n2/, false);

  // With the persistent option on, a blank disk is kept in browser storage.
  await page.check("#disk-persistent");
  await page.click("#ns-add-blank");
  await guestShows(page, "cat /sys/block/nvme0n2/size", /^16384$/);
  expect(await page.evaluate(() => window.nvmeDemo.namespaces()[1].backend)).toBe("blank, in browser storage");
  await runInGuest(page, "dd if=/tmp/m of=/dev/nvme0n2 bs=512 seek=9 count=1 conv=sync oflag=direct 2>/dev/null");
  expect((await runInGuest(page, "dd if=/dev/nvme0n2 bs=512 skip=9 count=1 iflag=direct 2>/dev/null | head -c 9")).out).toBe("hot-added");
  await page.click('#ns-list button[data-remove-nsid="2"]');
  await guestShows(page, "ls /sys/block", /nvme0n2/, false);

  // No reboot happened meanwhile, and the guest still runs from namespace 1.
  expect(await page.evaluate(() => [window.nvmeDemo.boots, window.nvmeDemo.nvme?.counters.reboots ?? 0])).toEqual([bootsBefore, 0]);
  expect((await runInGuest(page, "cat /sys/block/nvme0n1/size")).status).toBe(0);
});
