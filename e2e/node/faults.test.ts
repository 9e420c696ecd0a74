// Injected faults seen by a real Linux guest (the guest kit's state, resumed): a bad block range
// fails dd and counts in nvme smart-log's media errors and the error log; a write fault too (Linux
// reports NVMe media errors as ENODATA, other errors such as Internal Error as EIO); a hung read is
// recovered by the driver's timeout and Abort, a hung read that refuses Abort by the controller
// reset the driver does at the next timeout, a hung write by a controller reset, and the data
// written before is intact after each; added latency shows in the command trace.
// The blocks used (1024-2047) lie before the first partition: nothing else reads them.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootGuest, type NodeGuest } from "../../src/node/index.ts";
import { formatTrace } from "../../src/index.ts";
import { fields, note } from "./support.ts";

/** SMART's media errors and error log entries, as nvme-cli prints them. */
async function smartLog(g: NodeGuest): Promise<{ media: number; entries: number }> {
  const r = await g.exec("nvme smart-log /dev/nvme0");
  expect(r.exitCode, r.stdout).toBe(0);
  const f = fields(r.stdout, true);
  return { media: Number(f.media_errors), entries: Number(f.num_err_log_entries) };
}

describe("injected faults in a Linux guest", () => {
  let guest: NodeGuest;

  beforeAll(async () => {
    guest = await bootGuest();
    note(`kit state resumed in ${(guest.bootMs / 1000).toFixed(1)} s`);
    const start = await guest.exec("cat /sys/block/nvme0n1/nvme0n1p1/start");
    expect(Number(start.stdout)).toBeGreaterThanOrEqual(2048);
  });

  afterAll(async () => {
    if (guest) note(`the last commands:\n${formatTrace(guest.nvme.trace().slice(-12))}`);
    await guest?.stop();
  });

  it("a read of a bad block range fails, counted in SMART's media errors and the error log", async () => {
    const before = await smartLog(guest);
    // README snippet: faults
    // Blocks 1024-1031 of namespace 1 go bad: reads of them fail with Unrecovered Read Error.
    const fault = guest.nvme.inject({ op: "read", nsid: 1, lba: [1024, 8] });
    const dd = await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4096 skip=128 count=1 iflag=direct 2>&1");
    // dd: /dev/nvme0n1: No data available (Linux's errno for a media error); it tried 6 times
    const { fired } = guest.nvme.list().find((f) => f.id === fault.id)!;
    console.log(formatTrace(guest.nvme.trace().filter((e) => e.injected === fault.id)));
    guest.nvme.clear(fault.id);
    // README snippet end
    expect(dd.exitCode).not.toBe(0);
    expect(dd.stdout).toMatch(/No data available/);
    expect(fired).toBeGreaterThanOrEqual(1);
    const after = await smartLog(guest);
    note(`bad blocks: the read fired the fault ${fired} times; media errors ${before.media} -> ${after.media}, error log entries ${before.entries} -> ${after.entries}`);
    expect(after.media - before.media).toBe(fired);
    expect(after.entries - before.entries).toBeGreaterThanOrEqual(fired);
    const hits = guest.nvme.trace().filter((e) => e.injected === fault.id);
    expect(hits).toHaveLength(fired);
    expect(hits.every((e) => e.opName === "Read" && e.slba === 1024 && e.nlb === 8 && e.statusName === "Unrecovered Read Error")).toBe(true);
    const log = await guest.exec("nvme error-log /dev/nvme0 -e 1");
    expect(log.stdout).toMatch(/status_field\s*:\s*0x281\b/);
    // Cleared: the same read works again.
    expect((await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4096 skip=128 count=1 iflag=direct 2>&1")).exitCode).toBe(0);
  });

  it("a write fault fails a direct write and leaves the blocks as they were; Internal Error is EIO", async () => {
    await guest.exec("dd if=/dev/urandom of=/tmp/old bs=4096 count=1 2>/dev/null && dd if=/tmp/old of=/dev/nvme0n1 bs=4096 seek=144 oflag=direct conv=notrunc,fsync 2>/dev/null");
    const before = await smartLog(guest);
    const fault = guest.nvme.inject({ op: "write", nsid: 1, lba: [1152, 8] });
    const dd = await guest.exec("dd if=/dev/zero of=/dev/nvme0n1 bs=4096 seek=144 count=1 oflag=direct conv=notrunc 2>&1");
    guest.nvme.clear(fault.id);
    expect(dd.exitCode).not.toBe(0);
    expect(dd.stdout).toMatch(/No data available/);
    const after = await smartLog(guest);
    expect(after.media).toBeGreaterThan(before.media);
    const internal = guest.nvme.inject({ op: "write", nsid: 1, lba: [1152, 8], status: "internal-error" });
    const eio = await guest.exec("dd if=/dev/zero of=/dev/nvme0n1 bs=4096 seek=144 count=1 oflag=direct conv=notrunc 2>&1");
    guest.nvme.clear(internal.id);
    expect(eio.stdout).toMatch(/Input\/output error/);
    expect((await smartLog(guest)).media).toBe(after.media); // not a media error
    const same = await guest.exec("dd if=/dev/nvme0n1 bs=4096 skip=144 count=1 iflag=direct 2>/dev/null | cmp - /tmp/old && echo same");
    expect(same.stdout).toContain("same");
  });

  it("a hung read is recovered by the driver's timeout and Abort: the data written before reads back", async () => {
    await guest.exec("dd if=/dev/urandom of=/tmp/pat bs=4096 count=1 2>/dev/null && dd if=/tmp/pat of=/dev/nvme0n1 bs=4096 seek=192 oflag=direct conv=notrunc,fsync 2>/dev/null");
    const want = (await guest.exec("md5sum < /tmp/pat")).stdout.split(/\s+/)[0];
    const timeout = (await guest.exec("cat /sys/block/nvme0n1/queue/io_timeout")).stdout.trim();
    expect((await guest.exec("echo 4000 > /sys/block/nvme0n1/queue/io_timeout && dmesg -c > /dev/null")).exitCode).toBe(0);
    const fault = guest.nvme.inject({ op: "read", nsid: 1, lba: [1536, 8], hang: true, count: 1 });
    const t = performance.now();
    const read = await guest.exec("dd if=/dev/nvme0n1 bs=4096 skip=192 count=1 iflag=direct 2>/dev/null | md5sum", { timeoutMs: 180_000 });
    note(`hung read: recovered after ${Math.round(performance.now() - t)} ms (io_timeout 4 s)`);
    await guest.exec(`echo ${timeout} > /sys/block/nvme0n1/queue/io_timeout`);
    expect(read.stdout.split(/\s+/)[0]).toBe(want);
    const dmesg = (await guest.exec("dmesg")).stdout;
    note(`dmesg: ${dmesg.trim().split("\n").slice(-4).join(" | ")}`);
    expect(dmesg).toMatch(/timeout, aborting/);
    expect(guest.nvme.list().find((f) => f.id === fault.id)!.fired).toBe(1);
    const trace = guest.nvme.trace();
    expect(trace.find((e) => e.injected === fault.id)).toMatchObject({ opName: "Read", slba: 1536, statusName: "Abort Requested" });
    expect(trace.some((e) => e.sqid === 0 && e.opName === "Abort" && e.status === 0)).toBe(true);
    guest.nvme.clear(fault.id);
  });

  it("a hung read that refuses Abort: the driver times out, aborts, times out again and resets the controller; the read completes after", async () => {
    await guest.exec("dd if=/dev/urandom of=/tmp/stuck bs=4096 count=1 2>/dev/null && dd if=/tmp/stuck of=/dev/nvme0n1 bs=4096 seek=224 oflag=direct conv=notrunc,fsync 2>/dev/null");
    const want = (await guest.exec("md5sum < /tmp/stuck")).stdout.split(/\s+/)[0];
    const timeout = (await guest.exec("cat /sys/block/nvme0n1/queue/io_timeout")).stdout.trim();
    expect((await guest.exec("echo 3000 > /sys/block/nvme0n1/queue/io_timeout && dmesg -c > /dev/null")).exitCode).toBe(0);
    const fault = guest.nvme.inject({ op: "read", nsid: 1, lba: [1792, 8], hang: true, refuseAbort: true, count: 1 });
    const t = performance.now();
    const read = await guest.exec("dd if=/dev/nvme0n1 bs=4096 skip=224 count=1 iflag=direct 2>/dev/null | md5sum", { timeoutMs: 120_000 });
    const ms = Math.round(performance.now() - t);
    await guest.exec(`echo ${timeout} > /sys/block/nvme0n1/queue/io_timeout`);
    const dmesg = (await guest.exec("dmesg")).stdout;
    note(`hung read refusing Abort: recovered after ${ms} ms (io_timeout 3 s); dmesg: ${dmesg.trim().split("\n").join(" | ")}`);
    expect(read.stdout.split(/\s+/)[0]).toBe(want);
    // The guest's Linux: "I/O 851 (I/O Cmd) QID 1 timeout, aborting", "Abort status: 0x0" (the Abort
    // succeeds, saying "not aborted"), "I/O 851 QID 1 timeout, reset controller", then the queues again.
    expect(dmesg).toMatch(/QID \d+ timeout, aborting/);
    expect(dmesg).toMatch(/QID \d+ timeout, reset controller/);
    expect(dmesg.indexOf("timeout, aborting")).toBeLessThan(dmesg.indexOf("timeout, reset controller"));
    expect(guest.nvme.list().find((f) => f.id === fault.id)!.fired).toBe(1);
    const trace = guest.nvme.trace();
    const hung = trace.find((e) => e.injected === fault.id)!;
    note(`the hung read: ${hung.statusName} after ${Math.round(hung.latencyMs)} ms`);
    // The driver's reset deletes the I/O queues first (the read ends aborted by its SQ's deletion),
    // unless it finds the controller dead, then disables it (CC.EN 1 -> 0).
    expect(["Aborted: SQ Deletion", "not completed: controller reset"]).toContain(hung.statusName);
    expect(hung.latencyMs).toBeGreaterThanOrEqual(5000);
    expect(trace.some((e) => e.sqid === 0 && e.opName === "Abort" && e.status === 0)).toBe(true);
    // After the reset: the new queues, and the read again, which succeeds (the fault is spent).
    const after = trace.slice(trace.indexOf(hung) + 1);
    expect(after.some((e) => e.opName === "Create I/O SQ")).toBe(true);
    expect(after.find((e) => e.opName === "Read" && e.slba === 1792)).toMatchObject({ status: 0 });
    guest.nvme.clear(fault.id);
  });

  it("a hung write is dropped by a controller reset and written again after it: nothing acknowledged is lost", async () => {
    await guest.exec("dd if=/dev/urandom of=/tmp/new bs=4096 count=1 2>/dev/null");
    const want = (await guest.exec("md5sum < /tmp/new")).stdout.split(/\s+/)[0];
    const fault = guest.nvme.inject({ op: "write", nsid: 1, lba: [1600, 8], hang: true, count: 1 });
    const r = await guest.exec(
      "dd if=/tmp/new of=/dev/nvme0n1 bs=4096 seek=200 oflag=direct conv=notrunc 2>/dev/null & sleep 2; echo 1 > /sys/class/nvme/nvme0/reset_controller; wait $!; echo dd=$?",
      { timeoutMs: 180_000 },
    );
    expect(r.stdout).toContain("dd=0");
    expect(guest.nvme.list().find((f) => f.id === fault.id)!.fired).toBe(1);
    const hung = guest.nvme.trace().find((e) => e.injected === fault.id)!;
    note(`hung write: ${hung.statusName} after ${Math.round(hung.latencyMs)} ms`);
    expect(["Aborted: SQ Deletion", "not completed: controller reset"]).toContain(hung.statusName);
    const back = await guest.exec("dd if=/dev/nvme0n1 bs=4096 skip=200 count=1 iflag=direct 2>/dev/null | md5sum");
    expect(back.stdout.split(/\s+/)[0]).toBe(want);
    // The data of the earlier tests is still there too.
    expect((await guest.exec("dd if=/dev/nvme0n1 bs=4096 skip=192 count=1 iflag=direct 2>/dev/null | cmp - /tmp/pat && echo same")).stdout).toContain("same");
    guest.nvme.clear(fault.id);
  });

  it("a snapshot taken while a read hangs restores to a guest whose read completes; faults stay injected", async () => {
    const fault = guest.nvme.inject({ op: "read", nsid: 1, lba: [1536, 8], hang: true });
    await guest.exec("(dd if=/dev/nvme0n1 bs=4096 skip=192 count=1 iflag=direct 2>/dev/null | cmp - /tmp/pat && echo same > /tmp/bg) & sleep 1");
    expect(guest.nvme.list().find((f) => f.id === fault.id)!.fired).toBe(1);
    const snap = await guest.snapshot();
    await guest.restore(snap); // the hung read is forgotten; the snapshot's copy of it runs again, without faults
    const hung = guest.nvme.trace().filter((e) => e.injected === fault.id);
    expect(hung.map((e) => e.statusName)).toEqual(["not completed: snapshot restored"]);
    expect((await guest.exec("wait; cat /tmp/bg", { timeoutMs: 60_000 })).stdout).toContain("same");
    expect(guest.nvme.list()).toEqual([{ ...fault, fired: 1 }]);
    guest.nvme.clear(fault.id);
  });

  it("added latency shows in the command trace", async () => {
    const fault = guest.nvme.inject({ op: "read", nsid: 1, lba: [1536, 8], delayMs: 300, count: 1 });
    const r = await guest.exec("dd if=/dev/nvme0n1 bs=4096 skip=192 count=1 iflag=direct 2>/dev/null | cmp - /tmp/pat && echo same");
    expect(r.stdout).toContain("same");
    const e = guest.nvme.trace().find((x) => x.injected === fault.id)!;
    expect(e).toMatchObject({ opName: "Read", status: 0 });
    expect(e.latencyMs).toBeGreaterThanOrEqual(300);
    guest.nvme.clear();
    expect(guest.nvme.list()).toEqual([]);
  });
});
