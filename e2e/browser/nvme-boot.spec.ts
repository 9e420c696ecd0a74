// In a real page: SeaBIOS, syslinux and Linux boot from the NVMe controller, the guest finds
// it and uses shadow doorbells, fio's crc32c verify passes through it, the VGA screen shows the
// BIOS, a user-picked image boots in place of the default, and an emulator exception shows on
// the page. One boot of the default image is shared by the tests of this file.

import { expect, test, type Page } from "@playwright/test";
import { BOOT_TIMEOUT, PROMPT, runInGuest, counters as countersOf, serialText as serialOf, type Counters } from "./page-guest.ts";

test.describe.configure({ mode: "serial" });
// No trace: it would record the 200 MB image download, and chunks of the one page shared by
// all tests went missing at its close.
test.use({ trace: "off" });


let page: Page;

const counters = (): Promise<Counters> => countersOf(page);
const serialText = (): Promise<string> => serialOf(page);
const run = (cmd: string, timeout?: number) => runInGuest(page, cmd, timeout);


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
  await page.goto("/");
});

test.afterEach(() => {
  expect(loads, "the page reloaded during the test").toBe(1);
});

test.afterAll(async () => {
  await page?.close();
});

test("the page boots Linux from the NVMe disk to a shell", async () => {
  test.setTimeout(BOOT_TIMEOUT + 60_000);
  await waitForState(["running"]);
  expect(await serialText()).toContain("V86NVME-ROOT-READY root=/dev/nvme0n1p2");
  await page.waitForFunction((p) => window.nvmeDemo.serialText().includes(p), PROMPT, { timeout: 60_000 });
  await expect(page.locator("#status")).toHaveText(/running/);

  const mounts = await run("cat /proc/mounts");
  expect(mounts.status).toBe(0);
  expect(mounts.out).toMatch(/^\/dev\/nvme0n1p2 \/ ext4 /m);
});

test("the guest finds the controller on the PCI bus", async () => {
  const ls = await run("ls /sys/class/nvme/");
  expect(ls.out.split(/\s+/)).toContain("nvme0");
  const model = await run("cat /sys/class/nvme/nvme0/model /sys/class/nvme/nvme0/serial /sys/class/nvme/nvme0/transport");
  expect(model.out).toContain("v86-nvme Virtual NVMe Disk");
  expect(model.out).toContain("V86WEB0001");
  expect(model.out).toContain("pcie");
  const list = await run("nvme list");
  expect(list.status).toBe(0);
  expect(list.out).toMatch(/^\/dev\/nvme0n1\s+(\/dev\/ng0n1\s+)?V86WEB0001\s+v86-nvme Virtual NVMe Disk /m);
});

test("the guest uses shadow doorbells (Doorbell Buffer Config took effect)", async () => {
  const c = await counters();
  // The device reads doorbell values from the shadow page only once Doorbell Buffer Config
  // succeeded, and writes EventIdx entries only there.
  expect(c.shadowDoorbellReads).toBeGreaterThan(0);
  expect(c.eventIdxWrites).toBeGreaterThan(0);
  // Linux says "unable to set dbbuf" when the command fails; nothing when it works.
  const dmesg = await run("dmesg | grep -i dbbuf");
  expect(dmesg.out).toBe("");
  // The controller advertises the command (OACS bit 8).
  const oacs = await run("nvme id-ctrl /dev/nvme0 | grep -i '^oacs'");
  expect(Number(oacs.out.split(":")[1]) & 0x100).toBe(0x100);
});

test("the VGA screen shows SeaBIOS booting from the NVMe disk", async () => {
  const screen = await page.evaluate(() => {
    const e = window.nvmeDemo.emulator as unknown as { screen_adapter: { get_text_screen(): string[] } };
    return e.screen_adapter.get_text_screen().join("\n");
  });
  expect(screen).toContain("SeaBIOS");
  expect(screen).toContain("Booting from Hard Disk");
  expect(screen).toContain("SYSLINUX");
  await expect(page.locator("#screen .screen-text")).toContainText("SeaBIOS");
  await test.info().attach("page", { body: await page.screenshot(), contentType: "image/png" });
});

test("fio random writes with crc32c verify pass, with the counters moving", async () => {
  test.setTimeout(300_000);
  const before = await counters();
  // The page's IOPS card, sampled while fio runs.
  await page.evaluate(() => {
    const w = window as unknown as { maxIops: number; iopsSampler: number };
    w.maxIops = 0;
    w.iopsSampler = window.setInterval(() => {
      const v = Number(document.querySelector('[data-stat="iops"] .card-value')?.textContent?.replace(/,/g, ""));
      if (v > w.maxIops) w.maxIops = v;
    }, 250);
  });
  const fio = await run(
    "fio --name=v --filename=/root/fio.dat --size=16M --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c --do_verify=1 --randrepeat=0 --output-format=terse --terse-version=3",
    240_000,
  );
  const maxIops = await page.evaluate(() => {
    const w = window as unknown as { maxIops: number; iopsSampler: number };
    clearInterval(w.iopsSampler);
    return w.maxIops;
  });
  const after = await counters();
  console.log(`fio: ${fio.out.split(";").slice(2, 9).join(";")}`);
  await run("rm -f /root/fio.dat");
  test.info().annotations.push({ type: "fio", description: fio.out.split(";").slice(0, 10).join(";") });
  expect(fio.status, fio.out).toBe(0);
  expect(fio.out).not.toMatch(/verify|bad magic|crc32c: wanted/i);
  // terse v3: field 5 is the error number.
  const line = fio.out.split("\n").find((l) => l.startsWith("3;"));
  expect(line, fio.out).toBeTruthy();
  expect(line!.split(";")[4]).toBe("0");

  const d = (k: string): number => after[k] - before[k];
  expect(d("writeCommands")).toBeGreaterThanOrEqual(4096); // 16 MiB of 4 KiB writes
  expect(d("bytesWritten")).toBeGreaterThanOrEqual(16 << 20);
  expect(d("readCommands")).toBeGreaterThanOrEqual(4096); // the verify pass reads it all back
  expect(d("interrupts")).toBeGreaterThan(0);
  // Shadow doorbells at work: the device read the doorbells from the shadow page and armed
  // EventIdx entries, and the guest rang fewer MMIO doorbells than one SQ tail plus one CQ head
  // write per command (the device arms the SQ EventIdx at the tail whenever it drains a queue, as
  // QEMU does, so a drained queue's next submission still rings MMIO).
  expect(d("shadowDoorbellReads")).toBeGreaterThan(0);
  expect(d("eventIdxWrites")).toBeGreaterThan(0);
  expect(d("mmioDoorbellWrites")).toBeLessThan(2 * d("sqesFetched"));
  expect(maxIops).toBeGreaterThan(0);
  test.info().annotations.push({
    type: "counters",
    description: JSON.stringify({
      writes: d("writeCommands"), reads: d("readCommands"), sqes: d("sqesFetched"), mmioDoorbells: d("mmioDoorbellWrites"),
      shadowReads: d("shadowDoorbellReads"), eventIdx: d("eventIdxWrites"), irqs: d("interrupts"), maxIops,
    }),
  });
});

test("a user-picked image boots from NVMe in place of the default", async () => {
  test.setTimeout(120_000);
  // 1 MiB of zeros: SeaBIOS's NVMe driver finds the disk, reads its MBR, and finds no boot signature.
  await page.locator("#image-file").setInputFiles({ name: "blank.img", mimeType: "application/octet-stream", buffer: Buffer.alloc(1 << 20) });
  await waitForState(["running"], 60_000);
  await expect(page.locator("#image-name")).toHaveText("blank.img");
  expect(await page.evaluate(() => window.nvmeDemo.image)).toBe("blank.img");
  expect(await serialText()).not.toContain("V86NVME-ROOT-READY");
  await expect(page.locator("#screen .screen-text")).toContainText("not a bootable disk", { timeout: 60_000 });
  const c = await counters();
  expect(c.adminCommands).toBeGreaterThan(0);
  expect(c.readCommands).toBeGreaterThan(0);
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

  await page.locator("#retry").click();
  await waitForState(["running"], 60_000);
  await expect(page.locator("#error")).toBeHidden();
  await expect(page.locator("#screen .screen-text")).toContainText("not a bootable disk", { timeout: 60_000 });
});
