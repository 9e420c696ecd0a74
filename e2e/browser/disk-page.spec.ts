// The demo page's disk controls and device panel in a real page: an HTTP image (read with Range
// requests) with a persistent disk in the browser over it boots Linux from NVMe; a file the guest
// writes and syncs is there again after a reload and a second boot; the exported image holds it;
// the live charts draw the counters, and switching the shadow doorbell policy and interrupt
// coalescing at run time changes the device's behaviour while fio runs. Two boots in all.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import { BOOT_TIMEOUT, imageBytes, runInGuest, waitForPrompt, counters as countersOf, serialText as serialOf, type Counters } from "./page-guest.ts";

test.describe.configure({ mode: "serial" });
// No trace: it would record the image's Range requests and the exported image.
test.use({ trace: "off" });

const IMAGE = "/guest/disk.img";
const IMAGE_BYTES = imageBytes();

let page: Page;
let loads = 0;

const counters = (): Promise<Counters> => countersOf(page);
const serialText = (): Promise<string> => serialOf(page);
const run = (cmd: string, timeout?: number) => runInGuest(page, cmd, timeout);


/** Waits for a shell prompt after the page started a boot (the error text, if any, fails the test). */
async function waitForShell(timeout = BOOT_TIMEOUT): Promise<void> {
  await waitForPrompt(page, timeout);
  const { state, error } = await page.evaluate(() => ({ state: window.nvmeDemo.state, error: window.nvmeDemo.error }));
  expect(error ?? "", "page error").toBe("");
  expect(state).toBe("running");
}

/** Bytes printed by `od -An -tx1`. */
const odBytes = (out: string): Buffer => Buffer.from(out.split(/\s+/).filter((x) => /^[0-9a-f]{2}$/.test(x)).join(""), "hex");

/** A full-page screenshot kept with the test's output and attached to the report. */
async function shot(name: string): Promise<void> {
  const path = test.info().outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await test.info().attach(name, { path, contentType: "image/png" });
}

/** The counters' change over at least `ms`, drawn out (up to 30 s) until `commands` commands
 *  were fetched: a loaded machine runs the guest slower, and a ratio needs its sample. */
async function window_(ms: number, commands = 300): Promise<Counters> {
  const a = await counters();
  const start = Date.now();
  for (;;) {
    await page.waitForTimeout(250);
    const b = await counters();
    const elapsed = Date.now() - start;
    if ((elapsed >= ms && b.sqesFetched - a.sqesFetched >= commands) || elapsed >= 30_000) {
      const d: Counters = {};
      for (const k of Object.keys(b)) d[k] = b[k] - (a[k] ?? 0);
      return d;
    }
  }
}

const perCommand = (d: Counters) => ({
  commands: d.sqesFetched,
  iops: d.readCommands + d.writeCommands,
  mmio: d.mmioDoorbellWrites / d.sqesFetched,
  eventIdx: d.eventIdxWrites / d.sqesFetched,
  shadow: d.shadowDoorbellReads / d.sqesFetched,
  irq: d.interrupts / d.sqesFetched,
});

/** What the guest wrote: md5, and its first and last 64 bytes. */
const written: { md5: string; head: Buffer; tail: Buffer } = { md5: "", head: Buffer.alloc(0), tail: Buffer.alloc(0) };

test.beforeAll(async ({ browser }) => {
  const context = await browser.newContext({ acceptDownloads: true });
  page = await context.newPage();
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  page.on("dialog", (d) => void d.accept()); // "Reset disk…" asks first
  // The dev server's HMR socket stays local to the page (no reload mid-test).
  await page.routeWebSocket(/.*/, () => {});
  // Export takes the download path (headless Chromium has no file picker to answer).
  await page.addInitScript(() => Object.defineProperty(window, "showSaveFilePicker", { value: undefined, configurable: true }));
  page.on("load", () => loads++);
  await page.goto("/");
});

test.afterAll(async () => {
  await page?.context().close();
});

test("the disk controls boot an HTTP image with a persistent disk over it", async () => {
  test.setTimeout(BOOT_TIMEOUT + 60_000);
  await page.waitForFunction(() => !!window.nvmeDemo);
  // The page starts with the bundled image; choose the same image by URL, read on demand, with
  // a persistent disk, and start from a clean one (Reset asks, then boots).
  await page.locator("#source-url").check();
  await page.locator("#image-url").fill(IMAGE);
  await page.locator("#read-lazy").check();
  await page.locator("#disk-persistent").check();
  expect(await page.evaluate(() => window.nvmeDemo.choice())).toMatchObject({ source: "url", url: IMAGE, read: "lazy", persistent: true });
  await expect(page.locator("#disk-reset")).toBeEnabled();
  await page.locator("#disk-reset").click();
  await waitForShell();

  const disk = await page.evaluate(() => window.nvmeDemo.disk);
  expect(disk).toMatchObject({ name: "disk.img", byteLength: IMAGE_BYTES, persistent: true, volatileWriteCache: true });
  expect(disk!.how).toContain("HTTP Range");
  await expect(page.locator("#image-name")).toHaveText("disk.img (persistent)");
  await expect(page.locator("#disk-source-text")).toContainText("persistent disk");
  await expect(page.locator("#disk-durability")).toContainText("Volatile write cache: present");
  // Read on demand: far less of the image was fetched than its size.
  await expect(page.locator("#disk-detail")).toContainText("still read from the image");
  // The guest sees the cache and so sends flushes.
  const wc = await run("cat /sys/block/nvme0n1/queue/write_cache");
  expect(wc.out).toBe("write back");
  const mounts = await run("cat /proc/mounts");
  expect(mounts.out).toMatch(/^\/dev\/nvme0n1p2 \/ ext4 /m);
  await shot("persistent-disk-booted");
});

test("a file written and synced in the guest", async () => {
  const dd = await run("dd if=/dev/urandom of=/root/p bs=64k count=16 2>&1; md5sum /root/p; sync");
  expect(dd.status, dd.out).toBe(0);
  written.md5 = /^([0-9a-f]{32})\s+\/root\/p$/m.exec(dd.out)?.[1] ?? "";
  expect(written.md5, dd.out).toMatch(/^[0-9a-f]{32}$/);
  written.head = odBytes((await run("head -c 64 /root/p | od -An -tx1")).out);
  written.tail = odBytes((await run("tail -c 64 /root/p | od -An -tx1")).out);
  expect(written.head.length).toBe(64);
  expect(written.tail.length).toBe(64);
  const usage = await page.evaluate(() => window.nvmeDemo.diskUsage());
  expect(usage!.written).toBeGreaterThanOrEqual(1 << 20); // the file, now in browser storage
  expect(usage!.queued).toBe(0); // sync flushed it all
});

test("the live charts draw, and the doorbell policy and coalescing switch at run time while fio runs", async () => {
  test.setTimeout(240_000);
  // fio in the background until it is interrupted below; the windows sample the counters meanwhile.
  await run(
    "fio --name=sw --filename=/root/fio.dat --size=16M --rw=randread --bs=4k --ioengine=libaio --iodepth=16 --direct=1 " +
      "--time_based --runtime=150 --eta=never > /tmp/fio.log 2>&1 & true",
  );
  // Past fio's layout of its file: reads flowing.
  await page.waitForFunction(() => {
    const w = window as unknown as { lastReads?: number };
    const r = window.nvmeDemo.counters().readCommands;
    const moving = w.lastReads !== undefined && r - w.lastReads > 200;
    w.lastReads = r;
    return moving;
  }, undefined, { timeout: 60_000, polling: 1000 });

  expect(await page.evaluate(() => window.nvmeDemo.device())).toEqual({ policy: "awake", coalescing: { threshold: 0, time: 0 } });
  const awake = perCommand(await window_(5000));

  await page.locator("label:has(#policy-eager)").click();
  await expect.poll(() => page.evaluate(() => window.nvmeDemo.device()?.policy)).toBe("eager");
  await page.waitForTimeout(500);
  const eager = perCommand(await window_(5000));

  await page.locator("label:has(#coalescing-on)").click();
  await expect.poll(() => page.evaluate(() => window.nvmeDemo.device()?.coalescing)).toEqual({ threshold: 7, time: 20 });
  await page.waitForTimeout(500);
  const coalesced = perCommand(await window_(5000));

  await page.locator("label:has(#coalescing-off)").click();
  await page.locator("label:has(#policy-awake)").click();
  await expect.poll(() => page.evaluate(() => window.nvmeDemo.device())).toEqual({ policy: "awake", coalescing: { threshold: 0, time: 0 } });

  const report = { awake, eager, coalesced };
  console.log(`per command: ${JSON.stringify(report)}`);
  test.info().annotations.push({ type: "per command", description: JSON.stringify(report) });
  // Enough commands in each window for the ratios below to mean something (a loaded machine runs
  // the guest slower; this is a sample size, not a speed).
  for (const w of [awake, eager, coalesced]) expect(w.commands).toBeGreaterThan(150);
  // Eager arms EventIdx each time it drains a rung queue, so the guest rings MMIO for the next
  // submission; awake leaves the queue to the timer and arms it only when it finds it empty.
  expect(eager.eventIdx).toBeGreaterThan(2 * awake.eventIdx);
  expect(eager.mmio).toBeGreaterThan(awake.mmio);
  // How many interrupts coalescing saves depends on how often the guest halts (held interrupts
  // go out at once then): the unit tests check aggregation, the guest benchmark measures it.

  // The charts: five uPlot charts with a minute of samples, the switches marked on them.
  await expect(page.locator("#stats-charts .chart-box")).toHaveCount(5);
  await expect(page.locator("#stats-charts .chart-box canvas")).toHaveCount(5);
  const charts = await page.evaluate(() => window.nvmeDemo.charts());
  expect(charts.iops.samples).toBeGreaterThan(20);
  expect(charts.iops.max.readIops).toBeGreaterThan(100);
  expect(charts.doorbells.max.eventIdxPerSec).toBeGreaterThan(0);
  expect(charts.percmd.max.irqPerCmd).toBeGreaterThan(0);
  for (const c of Object.values(charts)) expect(c.width).toBeGreaterThan(200);
  const marks = await page.evaluate(() => window.nvmeDemo.marks());
  expect(marks).toEqual(["eager", "coalescing", "no coalescing", "awake"]);
  await page.waitForTimeout(1000); // the last markers show once a sample past them is drawn
  await shot("device-panel-under-fio");

  // SIGINT ends fio early the way Ctrl-C does: it still reports its errors and bandwidth.
  const fio = await run("kill -INT $(pidof fio); wait; grep -E 'err=|READ:' /tmp/fio.log; rm -f /root/fio.dat", 60_000);
  expect(fio.out).toMatch(/err= *0\b/);
  expect(fio.out).toMatch(/READ: bw=/);
});

test("after a reload the persistent disk boots again and the file reads back the same", async () => {
  test.setTimeout(BOOT_TIMEOUT + 60_000);
  await page.reload();
  await page.waitForFunction(() => !!window.nvmeDemo);
  // The choice was remembered: the same URL with the persistent disk.
  expect(await page.evaluate(() => window.nvmeDemo.choice())).toMatchObject({ source: "url", url: IMAGE, read: "lazy", persistent: true });
  await expect(page.locator("#disk-persistent")).toBeChecked();
  await waitForShell();
  expect(await page.evaluate(() => window.nvmeDemo.disk?.persistent)).toBe(true);
  const md5 = await run("md5sum /root/p");
  expect(md5.out).toMatch(new RegExp(`^${written.md5}\\s+/root/p$`, "m"));
  expect(loads).toBe(2);
});

test("export downloads the disk as a raw image, with the file in it", async () => {
  test.setTimeout(180_000);
  const download = page.waitForEvent("download", { timeout: 150_000 });
  await page.locator("#disk-export").click();
  await expect(page.locator('[data-progress="export"]')).toBeVisible();
  expect(await page.evaluate(() => window.nvmeDemo.exporting)).toBe(true);
  await shot("exporting");
  const d = await download;
  expect(d.suggestedFilename()).toBe("disk-export.img");
  const image = readFileSync((await d.path())!);
  expect(image.length).toBe(IMAGE_BYTES);
  const head = image.indexOf(written.head);
  const tail = image.indexOf(written.tail);
  expect(head, "the file's first 64 bytes are in the exported image").toBeGreaterThanOrEqual(0);
  expect(tail, "the file's last 64 bytes are in the exported image").toBeGreaterThanOrEqual(0);
  // Stored in one extent (what ext4 does with a fresh 1 MiB file): the whole file is there.
  if (tail - head === (1 << 20) - 64) {
    expect(createHash("md5").update(image.subarray(head, head + (1 << 20))).digest("hex")).toBe(written.md5);
  } else {
    console.log(`the file is not stored contiguously (head at ${head}, tail at ${tail}): its md5 not checked in the image`);
    test.info().annotations.push({ type: "layout", description: `file not contiguous: head at ${head}, tail at ${tail}` });
  }
  await expect(page.locator('[data-progress="export"]')).toContainText("exported");
  // The guest was paused for the export and runs again.
  await expect.poll(() => page.evaluate(() => window.nvmeDemo.exporting)).toBe(false);
  expect(await page.evaluate(() => window.nvmeDemo.emulator?.is_running())).toBe(true);
  expect((await run("echo alive")).out).toBe("alive");
});

test("reset disk drops the stored changes", async () => {
  const before = await page.evaluate(() => window.nvmeDemo.diskUsage());
  expect(before!.written).toBeGreaterThan(1 << 20);
  const boots = await page.evaluate(() => window.nvmeDemo.boots);
  await page.locator("#disk-reset").click();
  await page.waitForFunction(
    (n) => window.nvmeDemo.boots > n && ["booting", "running", "error"].includes(window.nvmeDemo.state),
    boots,
  );
  expect(await page.evaluate(() => window.nvmeDemo.error ?? "")).toBe("");
  // A fresh overlay: the guest (just starting to boot) has written next to nothing.
  const after = await page.evaluate(() => window.nvmeDemo.diskUsage());
  expect(after!.written).toBeLessThan(64 * 1024);
  expect(after!.fromBase).toBeGreaterThan(IMAGE_BYTES - (1 << 20));
});
