// The guest in Chromium, through the Playwright fixture (src/playwright/): SeaBIOS, syslinux and
// Linux boot from the NVMe controller, the guest finds it and uses shadow doorbells, fio's crc32c
// verify passes through it, the VGA screen shows the BIOS booting from it; and the fixture's own
// promise, that every test starts from the state right after boot. One boot for the whole file.

import type { Page } from "@playwright/test";
import { expect, test } from "../../src/playwright/index.ts";

test("Linux boots from the NVMe disk to a shell, root on nvme0n1p2", async ({ guest }) => {
  const cmdline = await guest.exec("cat /proc/cmdline");
  expect(cmdline.stdout).toContain("root=/dev/nvme0n1p2");
  const mounts = await guest.exec("cat /proc/mounts");
  expect(mounts.exitCode).toBe(0);
  expect(mounts.stdout).toMatch(/^\/dev\/nvme0n1p2 \/ ext4 /m);
});

test("the guest finds the controller on the PCI bus", async ({ guest }) => {
  const ls = await guest.exec("ls /sys/class/nvme/");
  expect(ls.stdout.split(/\s+/)).toContain("nvme0");
  const sysfs = await guest.exec("cat /sys/class/nvme/nvme0/model /sys/class/nvme/nvme0/transport /sys/class/nvme/nvme0/device/class");
  expect(sysfs.stdout).toContain("v86-nvme Virtual NVMe Disk");
  expect(sysfs.stdout).toContain("pcie");
  expect(sysfs.stdout).toContain("0x010802"); // mass storage, NVM, NVMe
  const list = await guest.exec("nvme list");
  expect(list.exitCode).toBe(0);
  expect(list.stdout).toMatch(/^\/dev\/nvme0n1\s.*v86-nvme Virtual NVMe Disk /m);
});

test("the guest uses shadow doorbells (Doorbell Buffer Config took effect)", async ({ guest }) => {
  const { controller } = await guest.counters();
  // The device reads doorbells from the shadow page and writes EventIdx entries only once
  // Doorbell Buffer Config succeeded.
  expect(controller.shadowDoorbellReads).toBeGreaterThan(0);
  expect(controller.eventIdxWrites).toBeGreaterThan(0);
  // Linux says "unable to set dbbuf" when the command fails; nothing when it works.
  expect((await guest.exec("dmesg | grep -i dbbuf")).stdout).toBe("");
  const oacs = await guest.exec("nvme id-ctrl /dev/nvme0 | grep -i '^oacs'");
  expect(Number(oacs.stdout.split(":")[1]) & 0x100).toBe(0x100);
});

test("the VGA screen shows SeaBIOS booting from the NVMe disk", async ({ guest }) => {
  const screen = guest.page.locator("#screen");
  await expect(screen).toContainText("SeaBIOS");
  await expect(screen).toContainText("Booting from Hard Disk");
  await expect(screen).toContainText("SYSLINUX");
  await test.info().attach("VGA screen", { body: await guest.screenshot(), contentType: "image/png" });
});

test("fio random writes with crc32c verify pass, with the counters moving", async ({ guest }) => {
  test.setTimeout(300_000);
  const before = await guest.counters();
  const fio = await guest.exec(
    "fio --name=v --filename=/root/fio.dat --size=16M --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 --direct=1 " +
      "--verify=crc32c --do_verify=1 --randrepeat=0 --output-format=terse --terse-version=3",
    { timeoutMs: 240_000 },
  );
  const after = await guest.counters();
  test.info().annotations.push({ type: "fio", description: fio.stdout.split(";").slice(0, 10).join(";") });
  expect(fio.exitCode, fio.stdout).toBe(0);
  expect(fio.stdout).not.toMatch(/verify|bad magic|crc32c: wanted/i);
  // terse v3: field 5 is the error number.
  const line = fio.stdout.split("\n").find((l) => l.startsWith("3;"));
  expect(line, fio.stdout).toBeTruthy();
  expect(line!.split(";")[4]).toBe("0");

  const d = (k: keyof typeof after.controller): number => after.controller[k] - before.controller[k];
  expect(d("writeCommands")).toBeGreaterThanOrEqual(4096); // 16 MiB of 4 KiB writes
  expect(d("bytesWritten")).toBeGreaterThanOrEqual(16 << 20);
  expect(d("readCommands")).toBeGreaterThanOrEqual(4096); // the verify pass reads it all back
  expect(d("interrupts")).toBeGreaterThan(0);
  // Shadow doorbells at work: fewer MMIO doorbell writes than one SQ tail plus one CQ head per command.
  expect(d("shadowDoorbellReads")).toBeGreaterThan(0);
  expect(d("eventIdxWrites")).toBeGreaterThan(0);
  expect(d("mmioDoorbellWrites")).toBeLessThan(2 * d("sqesFetched"));
});

test.describe("every test starts from the state right after boot", () => {
  const MARK = "left-behind-by-an-earlier-test";
  const SECTOR = 1000; // in the gap between the MBR and partition 1
  /** Namespace 1's bytes at SECTOR as the controller sees them, read on the host side. */
  const onDisk = (page: Page) =>
    page.evaluate(([offset, length]) => {
      const bytes = new Uint8Array(512);
      window.v86nvme.guest().disk.tryRead(offset, bytes);
      return new TextDecoder().decode(bytes.subarray(0, length));
    }, [SECTOR * 512, MARK.length] as const);
  let sleeper = "";

  test("a test writes a file and a raw sector, syncs, and leaves a process running", async ({ guest }) => {
    const w = await guest.exec(`echo ${MARK} > /root/left-behind && printf ${MARK} | dd of=/dev/nvme0n1 bs=512 seek=${SECTOR} conv=notrunc,fsync && sync`);
    expect(w.exitCode, w.stdout).toBe(0);
    expect(await onDisk(guest.page)).toBe(MARK);
    sleeper = (await guest.exec("sleep 1000 & echo $!")).stdout.trim();
    expect(sleeper).toMatch(/^\d+$/);
  });

  test("the next test finds none of it, in the guest or on the disk", async ({ guest }) => {
    expect((await guest.exec("ls /root/left-behind")).exitCode).not.toBe(0);
    expect(await onDisk(guest.page)).not.toBe(MARK);
    expect((await guest.exec(`dd if=/dev/nvme0n1 bs=512 skip=${SECTOR} count=1 2>/dev/null`)).stdout).not.toContain(MARK);
    const cmdline = await guest.exec(`cat /proc/${sleeper}/cmdline 2>/dev/null | tr '\\0' ' '`);
    expect(cmdline.stdout).not.toContain("sleep 1000");
  });
});
