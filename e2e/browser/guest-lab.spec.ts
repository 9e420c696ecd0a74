// The guest as a test lab through the Playwright fixture, in Chromium: files in and out over a
// scratch NVMe namespace (bytes, host files and directories), the PS/2 keyboard at the guest's VGA
// console (tty1) with the screen waited on, and faults injected into the NVMe controller, seen by
// the guest and in the command trace. One guest for the file, rewound before each test.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "../../src/playwright/index.ts";

const md5 = (b: Uint8Array): string => createHash("md5").update(b).digest("hex");

/** Waits in the guest until some process has /dev/tty1 open (a reader started in the background). */
const TTY1_OPEN = "while ! ls -l /proc/[0-9]*/fd 2>/dev/null | grep -q /dev/tty1; do usleep 50000; done";

test("the trace holds this test's commands before any fault was injected: a read of namespace 1 is in it", async ({ guest }) => {
  await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=1 skip=777 iflag=direct 2>/dev/null");
  const reads = (await guest.nvme.trace()).filter((e) => e.opName === "Read" && e.nsid === 1 && (e.slba === 777 * 8 || e.slba === 777));
  expect(reads.length).toBeGreaterThan(0);
});

test("putFile and getFile: bytes, a host file and a host directory, byte for byte", async ({ guest }) => {
  const data = new Uint8Array((1 << 20) + 77).map((_, i) => (i * 31 + (i >> 11)) & 255);
  await guest.putFile("/root/data.bin", data);
  expect((await guest.exec("md5sum < /root/data.bin")).stdout.split(" ")[0]).toBe(md5(data));
  expect(md5(await guest.getFile("/root/data.bin"))).toBe(md5(data));

  const host = mkdtempSync(join(tmpdir(), "guest-lab-"));
  try {
    mkdirSync(join(host, "tree/sub"), { recursive: true });
    writeFileSync(join(host, "tree/a.txt"), "alpha\n");
    writeFileSync(join(host, "tree/sub/b.txt"), "beta\n");
    await guest.putFile("/root/tree", join(host, "tree"));
    expect((await guest.exec("cat /root/tree/a.txt /root/tree/sub/b.txt")).stdout).toBe("alpha\nbeta\n");
    await guest.exec("echo gamma > /root/tree/sub/c.txt");
    await guest.getDir("/root/tree", { to: join(host, "back") });
    expect(readFileSync(join(host, "back/sub/c.txt"), "utf8")).toBe("gamma\n");
    await guest.getFile("/root/tree/a.txt", { to: join(host, "a.txt") });
    expect(readFileSync(join(host, "a.txt"), "utf8")).toBe("alpha\n");
  } finally {
    rmSync(host, { recursive: true, force: true });
  }
  await expect(guest.getFile("/root/missing")).rejects.toThrow("the guest has no file /root/missing");
  expect((await guest.exec("ls /sys/block | grep nvme")).stdout.trim()).toBe("nvme0n1");
});

test("the keyboard types at the VGA console and the screen shows it; named keys reach tty1 as the console's bytes", async ({ guest }) => {
  await guest.exec(`(head -n1 /dev/tty1 > /tmp/line) & ${TTY1_OPEN}`);
  await guest.keyboard.type("typed at tty1: Hello, World!\n");
  expect(await guest.screen.waitFor(/typed at tty1: (\S+), World!/)).toEqual(["typed at tty1: Hello, World!", "Hello"]);
  await expect.poll(async () => (await guest.exec("cat /tmp/line")).stdout).toBe("typed at tty1: Hello, World!\n");

  // Raw mode: each key as the Linux console sends it to a program.
  await guest.exec(`((stty raw -echo; dd bs=1 count=16 2>/dev/null | od -An -tx1 > /tmp/keys) < /dev/tty1) & ${TTY1_OPEN}`);
  for (const key of ["Ctrl+C", "Escape", "ArrowUp", "F1", "Enter", "Tab", "Backspace", "Delete"]) await guest.keyboard.press(key);
  await expect.poll(async () => (await guest.exec("cat /tmp/keys | tr -s ' \\n' ' '")).stdout.trim()).toBe(
    "03 1b 1b 5b 41 1b 5b 5b 41 0d 09 7f 1b 5b 33 7e",
  );
  await expect(guest.screen.waitFor("never on the screen", { timeoutMs: 500 })).rejects.toThrow(/did not appear on the VGA screen within 500 ms; the screen shows:\n[\s\S]*typed at tty1/);
});

test("an injected media error: the guest's read fails (ENODATA, a medium error), SMART counts it, the trace shows it", async ({ guest }) => {
  const smart = async (): Promise<number> => Number(/media_errors\s*:\s*(\d+)/.exec((await guest.exec("nvme smart-log /dev/nvme0"))?.stdout ?? "")?.[1]);
  const before = await smart();
  const fault = await guest.nvme.inject({ op: "read", nsid: 1, lba: [300_000, 8], status: "media-error" });
  const dd = await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4096 skip=37500 count=1 iflag=direct");
  expect(dd.exitCode).not.toBe(0);
  // Linux completes an Unrecovered Read Error as a medium error: ENODATA to the reader, in the log as such.
  expect(dd.stdout).toContain("No data available");
  expect((await guest.exec("dmesg | grep 'critical medium error'")).stdout).toMatch(/critical medium error, dev nvme0n1, sector 300000/);
  expect(await smart()).toBeGreaterThan(before);
  const [listed] = await guest.nvme.list();
  expect(listed).toMatchObject({ id: fault.id, op: "read" });
  expect(listed.fired).toBeGreaterThan(0);
  const hits = (await guest.nvme.trace()).filter((e) => e.injected === fault.id);
  expect(hits.length).toBeGreaterThan(0);
  expect(hits[0]).toMatchObject({ opName: expect.stringMatching(/read/i), nsid: 1 });
});

test("faults end with the test that injected them", async ({ guest }) => {
  expect(await guest.nvme.list()).toEqual([]);
  expect((await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4096 skip=37500 count=1 iflag=direct")).exitCode).toBe(0);
  expect((await guest.nvme.trace()).every((e) => e.injected === undefined)).toBe(true);
});
