// Linux (Debian 6.1, i386) booted from our NVMe controller in v86 under Node: SeaBIOS reads
// syslinux and the kernel through the controller, the kernel's nvme driver mounts its root from
// nvme0n1p2. One boot serves every scenario in this file, in order; the scenarios that reset the
// controller or rewind the machine come last.
//
// The controller has a second namespace, nvme0n2: a scratch disk no file system uses, on a
// backend the tests can tell to fail reads or writes of a range, or to be slow (faulty-backend.ts).
//
// Needs the guest in public/ (bash scripts/build-guest.sh). Takes about 2-3 minutes.
// V86_E2E_ECHO=1 echoes the serial console to stderr.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { deviceOf } from "../../src/controller/controller.ts";
import { FaultyBackend } from "./faulty-backend.ts";
import { bootGuest } from "../../src/node/index.ts";
import { Guest } from "../../test/project-guest/guest.ts";
import { BIOS, loadDisk } from "../../test/project-guest/image.ts";
import { fields, md5, note, serialTailOnFailure } from "./support.ts";

const SERIAL = "V86E2E0001";
const MODEL = "v86-nvme Virtual NVMe Disk";
/** Namespace 2 (nvme0n2): 64 MiB of scratch space. */
const SCRATCH_BYTES = 64 << 20;
/** Where on nvme0n2 the fault scenario works (fio under resets uses [0, 12 MiB)). */
const FAULT_AREA = 48 << 20;

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of Object.keys(b)) if (b[k] !== a[k]) d[k] = b[k] - (a[k] ?? 0);
  return d;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `test` every 10 ms (the emulator runs in between) until it holds; throws after `timeoutMs`. */
async function until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!test()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Whether `text` is anywhere on a disk (read in 4 MiB pieces that overlap by the text's length). */
function diskHolds(disk: { byteLength: number; tryRead(offset: number, dst: Uint8Array): boolean }, text: string): boolean {
  const step = 4 << 20;
  const needle = Buffer.from(text);
  for (let off = 0; off < disk.byteLength; off += step) {
    const len = Math.min(step + 512, disk.byteLength - off);
    const buf = Buffer.alloc(len);
    disk.tryRead(off, buf);
    if (buf.indexOf(needle) >= 0) return true;
  }
  return false;
}

/** Bytes [offset, offset + length) of a backend as they are now. */
function backendBytes(b: { tryRead(offset: number, dst: Uint8Array): boolean }, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (!b.tryRead(offset, out)) throw new Error("backend bytes not at hand");
  return out;
}

describe("Linux on the NVMe controller (v86, Node)", () => {
  let g: Guest;
  const started = performance.now();
  const scratch = new FaultyBackend(new MemoryBackend(SCRATCH_BYTES));

  beforeAll(async () => {
    g = await Guest.boot({ serial: SERIAL, extraNamespaces: [{ backend: scratch }] });
    note(`boot to the shell prompt: ${(g.bootMs / 1000).toFixed(1)} s`);
  }, 240_000);

  serialTailOnFailure(() => g);

  afterAll(async () => {
    if (g) {
      note(`controller counters at the end: ${JSON.stringify(g.counters().controller)}`);
      await g.stop();
    }
    note(`file wall time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 20_000);

  it("finds the controller and mounts root from nvme0n1", async () => {
    const mounts = await g.ok("cat /proc/mounts");
    expect(mounts).toMatch(/^\/dev\/nvme0n1p2 \/ ext4 rw/m);
    expect(g.transcript).toContain("V86NVME-ROOT-READY root=/dev/nvme0n1p2");
    // The guest has no other disk: SeaBIOS loaded syslinux, and syslinux the kernel, through the controller.
    expect(g.transcript).toMatch(/SYSLINUX \d/);
    expect((await g.ok("cat /sys/class/nvme/nvme0/model")).trim()).toBe(MODEL);
    expect((await g.ok("cat /sys/class/nvme/nvme0/serial")).trim()).toBe(SERIAL);
    expect((await g.ok("cat /sys/class/nvme/nvme0/firmware_rev")).trim()).toBe("1.0");
    // The PCI function behind it: class 01:08:02 (mass storage, NVM, NVMe).
    expect((await g.ok("cat /sys/class/nvme/nvme0/device/class")).trim()).toBe("0x010802");
    const size = Number((await g.ok("cat /sys/block/nvme0n1/size")).trim());
    expect(size).toBe(g.disk.byteLength / 512);
    expect(Number((await g.ok("cat /sys/block/nvme0n2/size")).trim())).toBe(SCRATCH_BYTES / 512);
    const dmesg = await g.ok("dmesg | grep -i nvme");
    note(`dmesg about nvme:\n${dmesg}`);
    expect(dmesg).toMatch(/nvme nvme0: \d+\/\d+\/\d+ default\/read\/poll queues/);
    expect(dmesg).toMatch(/nvme0n1: p1 p2/);
    // INTx: SeaBIOS routes slot 4 pin A to IRQ 11; the kernel's queue vectors sit on it.
    expect(g.nvme.irq()).toBe(11);
    const irqs = await g.ok("grep nvme /proc/interrupts");
    expect(irqs).toMatch(/^\s*11:.*nvme0q0.*nvme0q1/m);
    note(`/proc/interrupts: ${irqs.trim().replace(/\s+/g, " ")}`);
    const c = g.counters();
    expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
    expect(c.controller.invalidDoorbellWrites).toBe(0);
  }, 60_000);

  it("answers nvme-cli: list, id-ctrl, id-ns, smart-log, error-log, get-feature, flush", async () => {
    const list = await g.ok("nvme list");
    expect(list).toMatch(new RegExp(`/dev/nvme0n1\\s+\\S+\\s+${SERIAL}\\s+${MODEL}\\s+1\\s`));
    expect(list).toMatch(new RegExp(`/dev/nvme0n2\\s+\\S+\\s+${SERIAL}\\s+${MODEL}\\s+2\\s`));

    const ctrl = fields(await g.ok("nvme id-ctrl /dev/nvme0"));
    expect(ctrl.mn).toBe(MODEL);
    expect(ctrl.sn).toBe(SERIAL);
    expect(ctrl.fr).toBe("1.0");
    const oacs = Number(ctrl.oacs);
    expect(oacs & 0x100).toBe(0x100); // Doorbell Buffer Config
    expect(Number(ctrl.nn)).toBe(32); // namespace IDs offered: the boot disk and the scratch namespace use two
    note(`id-ctrl: vid ${ctrl.vid} mn "${ctrl.mn}" sn ${ctrl.sn} fr ${ctrl.fr} oacs ${ctrl.oacs} oncs ${ctrl.oncs} mdts ${ctrl.mdts} ver ${ctrl.ver}`);

    const ns = fields(await g.ok("nvme id-ns /dev/nvme0n1"));
    expect(Number(ns.nsze)).toBe(g.disk.byteLength / 512);
    expect(Number(ns.ncap)).toBe(g.disk.byteLength / 512);
    expect(ns["lbaf  0"]).toMatch(/lbads:9 .*in use/);
    note(`id-ns: nsze ${ns.nsze} (${Number(ns.nsze)} blocks = ${g.disk.byteLength} bytes / 512), lbaf 0: ${ns["lbaf  0"]}`);

    const smartOut = await g.ok("nvme smart-log /dev/nvme0");
    const temp = /temperature\s*:\s*(-?\d+)\s*°C/.exec(smartOut);
    expect(temp, smartOut).not.toBeNull();
    expect(Number(temp![1])).toBeGreaterThan(0);
    expect(Number(temp![1])).toBeLessThan(80);
    const unitsRead = /Data Units Read\s*:\s*([\d,]+)/.exec(smartOut);
    expect(unitsRead, smartOut).not.toBeNull();
    expect(Number(unitsRead![1].replace(/,/g, ""))).toBeGreaterThan(0);
    expect(smartOut).toMatch(/critical_warning\s*:\s*0\b/);
    expect(smartOut).toMatch(/media_errors\s*:\s*0\b/);
    note(`smart-log: ${temp![0]}; ${unitsRead![0].replace(/\s+/g, " ")}; ${/host_read_commands\s*:\s*\S+/.exec(smartOut)?.[0].replace(/\s+/g, " ")}`);

    const errors = await g.ok("nvme error-log /dev/nvme0");
    expect(errors).toMatch(/Error Log Entries for device:nvme0 entries:\d+/);
    // Nothing has failed yet: every entry is empty.
    const counts = [...errors.matchAll(/error_count\s*:\s*(\d+)/g)].map((m) => Number(m[1]));
    expect(counts.length).toBeGreaterThan(0);
    expect(counts.every((n) => n === 0)).toBe(true);
    note(`error-log: ${errors.split("\n")[0]}, all error_count 0`);

    const nq = await g.ok("nvme get-feature /dev/nvme0 -f 7 -H");
    expect(nq).toMatch(/get-feature:0x0?7 \(Number of Queues\), Current value:\s*(0x)?[0-9a-f]+/i);
    const ncqa = Number(/\(NCQA\):\s*(\d+)/.exec(nq)?.[1]);
    const nsqa = Number(/\(NSQA\):\s*(\d+)/.exec(nq)?.[1]);
    // The kernel created as many I/O queue pairs as were allocated (one hardware context each).
    const hctx = (await g.ok("ls /sys/block/nvme0n1/mq")).split(/\s+/).filter(Boolean).length;
    expect(ncqa).toBeGreaterThanOrEqual(1);
    expect(nsqa).toBe(ncqa);
    expect(hctx).toBe(nsqa);
    note(`get-feature 7: ${nq.replace(/\s*\n\s*/g, "; ")}; blk-mq hardware queues: ${hctx}`);

    const ic = await g.ok("nvme get-feature /dev/nvme0 -f 8 -H");
    expect(ic).toMatch(/get-feature:0x0?8 \(Interrupt Coalescing\), Current value:\s*(0x)?[0-9a-f]+/i);
    expect(ic).toMatch(/Aggregation Time\s+\(TIME\):\s*\d+/);
    expect(ic).toMatch(/Aggregation Threshold\s+\(THR\):\s*\d+/);
    note(`get-feature 8: ${ic.replace(/\s*\n\s*/g, "; ")}`);

    const before = g.counters().controller;
    expect(await g.ok("nvme flush /dev/nvme0n1")).toMatch(/NVMe Flush: success/);
    expect(g.counters().controller.flushCommands - before.flushCommands).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it("exec: echo, output without a newline, kernel messages in the output, syntax errors, back to back", async () => {
    const guest = g.guest;
    // The kernel's console is ttyS0 too (console=ttyS0, "quiet": levels 0-3 print).
    expect(await guest.exec("cat /proc/sys/kernel/printk")).toEqual({ stdout: "4\t4\t1\t7\n", exitCode: 0 });
    expect(await guest.exec("printf abc")).toEqual({ stdout: "abc", exitCode: 0 });
    expect(await guest.exec("echo abc")).toEqual({ stdout: "abc\n", exitCode: 0 });
    expect(await guest.exec("false")).toEqual({ stdout: "", exitCode: 1 });
    expect(await guest.exec("exit_code() { return $1; }; exit_code 42")).toEqual({ stdout: "", exitCode: 42 });
    // Kernel messages printed on the console between the command's own lines (and after its last).
    const from = guest.serial.text().length;
    const k = await guest.exec("for i in 1 2 3; do echo line$i; echo \"<2>v86nvme-kmsg-$i\" >/dev/kmsg; done; printf 'end'");
    expect(k).toEqual({ stdout: "line1\nline2\nline3\nend", exitCode: 0 });
    expect(guest.serial.text().slice(from)).toMatch(/\[ *\d+\.\d+\] v86nvme-kmsg-3/); // they did reach the console
    // dmesg's own time-stamped lines are output, not kernel console lines.
    expect((await guest.exec("dmesg | grep v86nvme-kmsg-")).stdout).toMatch(/^\[ *\d+\.\d+\] v86nvme-kmsg-1\n.*kmsg-2\n.*kmsg-3\n$/);
    // Binary-ish bytes, tabs, quotes, UTF-8, and a command with a syntax error.
    expect((await guest.exec("printf 'a\\001b\\tc\\033[1md\\r\\n'; echo \"it's ünïcode\"")).stdout).toBe("a\x01b\tc\x1b[1md\r\nit's ünïcode\n");
    expect(await guest.exec("echo 'tab\there'")).toEqual({ stdout: "tab\there\n", exitCode: 0 });
    const bad = await guest.exec("echo (");
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout).toMatch(/syntax error/);
    // Back to back, queued in call order; the shell keeps its state between commands.
    const rs = await Promise.all([guest.exec("cd /tmp; x=7"), guest.exec("echo $x $(pwd)"), guest.exec("cd /root")]);
    expect(rs.map((r) => r.stdout)).toEqual(["", "7 /tmp\n", ""]);
    // Multi-line output of some length.
    const seq = await guest.exec("seq 1 2000");
    expect(seq.stdout.split("\n")).toHaveLength(2001);
    expect(seq.stdout.endsWith("1999\n2000\n")).toBe(true);
  }, 120_000);

  it("exec and serial.waitFor time out with the serial tail; the shell takes the next command", async () => {
    const guest = g.guest;
    await guest.exec("echo marker-before-timeout");
    const e = await guest.exec("sleep 30", { timeoutMs: 1500 }).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(/timed out after 1500 ms waiting for `sleep 30` to finish\n--- serial tail ---\n[^]*marker-before-timeout/);
    expect(await guest.exec("echo still here")).toEqual({ stdout: "still here\n", exitCode: 0 });
    const w = await guest.serial.waitFor(/never printed/, { timeoutMs: 300 }).catch((x: Error) => x);
    expect((w as Error).message).toMatch(/timed out after 300 ms[^]*--- serial tail ---[^]*still here/);
    const from = guest.serial.text().length;
    guest.serial.send("echo waited-$((6*7))\n");
    expect((await guest.serial.waitFor(/waited-(\d+)/, { from, timeoutMs: 10_000 }))[1]).toBe("42");
  }, 60_000);

  it("snapshot/restore: the machine and namespace 1 go back; a snapshot of another image, memory or controller is refused", async () => {
    const guest = g.guest;
    await guest.exec("sync");
    let t = performance.now();
    const snap = await guest.snapshot();
    const snapMs = performance.now() - t;
    const textAtSnapshot = guest.serial.text();
    note(`snapshot (256 MiB RAM): ${snapMs.toFixed(0)} ms, machine ${(snap.machine.byteLength / 1048576).toFixed(1)} MiB, overlay ${snap.overlay.pageIndex.length} pages`);
    // A file on nvme0n1p2, synced (so in the disk's overlay), and one in tmpfs.
    const TOKEN = "v86nvme-snapshot-token-5f3a9c";
    await g.ok(`echo ${TOKEN} >/root/snapshot-test; echo volatile >/tmp/snapshot-test; sync`);
    expect(diskHolds(guest.disk, TOKEN)).toBe(true);
    for (let i = 0; i < 2; i++) {
      t = performance.now();
      await guest.restore(snap);
      note(`restore ${i + 1}: ${(performance.now() - t).toFixed(0)} ms`);
      expect(guest.serial.text()).toBe(textAtSnapshot);
      expect(guest.disk.saveOverlay().pageIndex).toEqual(snap.overlay.pageIndex);
      expect(diskHolds(guest.disk, TOKEN)).toBe(false);
      const cat = await guest.exec("cat /root/snapshot-test /tmp/snapshot-test");
      expect(cat.exitCode).toBe(1);
      expect(cat.stdout).toMatch(/\/root\/snapshot-test'?: No such file[^]*\/tmp\/snapshot-test'?: No such file/);
      await g.ok(`echo ${TOKEN} >/root/snapshot-test; sync`); // written again: the next restore removes it again
    }
    // Refused, with the reason, and nothing changed.
    const other = (patch: Partial<typeof snap.identity>) => ({ ...snap, identity: { ...snap.identity, ...patch } });
    await expect(guest.restore(other({ imageBytes: snap.identity.imageBytes + 512 }))).rejects.toThrow(/another disk size: \d+ bytes \(this guest's image: \d+ bytes\)/);
    await expect(guest.restore(other({ imageId: "0123456789abcdef" }))).rejects.toThrow(/another image: id 0123456789abcdef/);
    await expect(guest.restore(other({ memory: 128 << 20 }))).rejects.toThrow(/another memory size: 128 MiB \(this guest: 256 MiB\)/);
    await expect(guest.restore(other({ nvme: JSON.stringify({ mdts: 5 }) }))).rejects.toThrow(/another controller configuration: .*mdts 5 \(this guest: default\)/);
    await expect(guest.restore({} as never)).rejects.toThrow(/not a snapshot/);
    // A real snapshot of another machine: a larger image and another MDTS (not booted: taken as soon as v86 is up).
    const foreignGuest = await bootGuest(
      { image: loadDisk(undefined, 1 << 20), bios: BIOS, memory: 256 << 20, nvme: { serial: SERIAL, mdts: 5 } },
      { readyWhen: () => true },
    );
    const foreign = await foreignGuest.snapshot();
    await foreignGuest.stop();
    const refused = await guest.restore(foreign).catch((e: Error) => e);
    expect((refused as Error).message).toMatch(/^restore: the snapshot was taken with another disk size: \d+ bytes \(this guest's image: \d+ bytes\); another controller configuration: mdts 5 \(this guest: default\), namespaces default \(this guest: \[\{"backend":\{"bytes":67108864\}\}\]\)$/);
    expect(await guest.exec("cat /root/snapshot-test")).toEqual({ stdout: `${TOKEN}\n`, exitCode: 0 });
    const c = g.counters();
    expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
  }, 120_000);

  it("passes fio random write with crc32c verify at queue depth 16", async () => {
    const before = g.counters().controller;
    const t = performance.now();
    const out = await g.ok(
      "fio --name=v --filename=/root/fio.dat --size=8M --rw=randwrite --bs=4k --ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c --do_verify=1",
      240_000,
    );
    const secs = (performance.now() - t) / 1000;
    const d = delta(before, g.counters().controller);
    expect(out).toMatch(/err= 0/);
    expect(out).not.toMatch(/verify failed|bad magic|bad header|wanted [0-9a-f]+,? got/i);
    expect(out).toMatch(/issued rwts: total=2048,2048,/);
    expect(d.writeCommands).toBeGreaterThanOrEqual(2048);
    expect(d.readCommands).toBeGreaterThanOrEqual(2048);
    const io = d.readCommands + d.writeCommands + (d.flushCommands ?? 0);
    note(
      `fio randwrite+verify 8M QD16: ${secs.toFixed(1)} s; ${/write: IOPS=[^,]+/.exec(out)?.[0]}; verify ${/read: IOPS=[^,]+/.exec(out)?.[0]}; ` +
        `MMIO doorbell writes ${d.mmioDoorbellWrites} for ${io} I/O commands = ${(d.mmioDoorbellWrites / io).toFixed(2)} per I/O; interrupts ${d.interrupts}`,
    );
    // Writes and reads mixed, every written block verified at the end.
    const t2 = performance.now();
    const mixed = await g.ok(
      "fio --name=m --filename=/root/fio2.dat --size=8M --rw=randrw --rwmixread=50 --bs=4k --ioengine=libaio --iodepth=8 --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 && rm /root/fio2.dat",
      240_000,
    );
    expect(mixed).toMatch(/err= 0/);
    expect(mixed).not.toMatch(/verify failed|bad magic|bad header|wanted [0-9a-f]+,? got/i);
    note(`fio randrw+verify 8M QD8: ${((performance.now() - t2) / 1000).toFixed(1)} s; ${/issued rwts: \S+/.exec(mixed)?.[0]}`);
  }, 300_000);

  it("uses shadow doorbells: well under two MMIO doorbell writes per I/O at queue depth 16", async () => {
    const before = g.counters().controller;
    const out = await g.ok("fio --name=r --filename=/root/fio.dat --size=8M --rw=randread --bs=4k --ioengine=libaio --iodepth=16 --direct=1", 180_000);
    const after = g.counters().controller;
    const d = delta(before, after);
    expect(out).toMatch(/err= 0/);
    expect(after.shadowDoorbellReads).toBeGreaterThan(0);
    expect(after.eventIdxWrites).toBeGreaterThan(0);
    expect(d.shadowDoorbellReads).toBeGreaterThan(0);
    expect(d.eventIdxWrites).toBeGreaterThan(0);
    const io = d.readCommands + (d.writeCommands ?? 0) + (d.flushCommands ?? 0);
    expect(io).toBeGreaterThanOrEqual(2048);
    const perIo = d.mmioDoorbellWrites / io;
    note(
      `fio randread 8M QD16: ${/read: IOPS=[^,]+/.exec(out)?.[0]}; MMIO doorbell writes ${d.mmioDoorbellWrites} for ${io} I/O commands = ${perIo.toFixed(2)} per I/O ` +
        `(without shadow doorbells: 2); shadow doorbell reads ${d.shadowDoorbellReads}, EventIdx writes ${d.eventIdxWrites}, interrupts ${d.interrupts}`,
    );
    // Fewer MMIO doorbell writes than commands: most SQ tails reached the device through the shadow page only.
    expect(perIo).toBeLessThan(1);
  }, 240_000);

  it("moves I/O through SGLs once sgl_threshold lets Linux use them: fio crc32c verify over several block sizes from buffers not page aligned", async () => {
    // Linux takes SGLs for a request whose average segment is at least sgl_threshold bytes (32 KiB
    // by default); 1 makes every request of more than two pages use them.
    const param = "/sys/module/nvme/parameters/sgl_threshold";
    const old = (await g.ok(`cat ${param}`)).trim();
    const before = g.counters().controller;
    let out: string;
    try {
      await g.ok(`echo 1 > ${param}`);
      out = await g.ok(
        "fio --name=sgl --filename=/dev/nvme0n2 --offset=16M --size=4M --rw=randwrite --bssplit=512/10:4k/20:12k/20:64k/30:128k/20 " +
          "--mem_align=512 --ioengine=libaio --iodepth=8 --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1",
        240_000,
      );
    } finally {
      await g.ok(`echo ${old} > ${param}`);
    }
    const d = delta(before, g.counters().controller);
    expect(out).toMatch(/err= 0/);
    expect(out).not.toMatch(/verify failed|bad magic|bad header|wanted [0-9a-f]+,? got/i);
    expect(d.sglCommands).toBeGreaterThan(0);
    note(`fio randwrite+verify 4M over SGLs (sgl_threshold 1, buffers 512 bytes into a page): ${d.sglCommands} of ${d.readCommands + d.writeCommands} I/O commands used SGLs; ${/issued rwts: \S+/.exec(out)?.[0]}`);
  }, 300_000);

  it("reports backend read and write failures as media errors: the guest's I/O fails at once, then works once the fault is gone", async () => {
    const BLOCK = 4096;
    const bad = FAULT_AREA + 2 * BLOCK; // the third 4 KiB block of a 64 KiB pattern
    const lba = bad / 512;
    // 64 KiB of random data on nvme0n2, kept in /tmp/pat.
    await g.ok(`dd if=/dev/urandom of=/tmp/pat bs=64k count=1 2>/dev/null && dd if=/tmp/pat of=/dev/nvme0n2 bs=64k seek=${FAULT_AREA / 65536} oflag=direct 2>/dev/null`);
    const pat = (await g.ok("dd if=/tmp/pat bs=4k skip=2 count=1 2>/dev/null | md5sum")).split(/\s+/)[0];
    expect(md5(backendBytes(scratch, bad, BLOCK))).toBe(pat);
    const smartErrors = async (): Promise<number> => Number(/media_errors\s*:\s*(\d+)/.exec(await g.ok("nvme smart-log /dev/nvme0"))?.[1]);
    const newestError = async (): Promise<Record<string, string>> => fields(await g.ok("nvme error-log /dev/nvme0 -e 1"));
    const mediaBefore = await smartErrors();
    const countBefore = Number((await newestError()).error_count);
    await g.ok("dmesg -c >/dev/null");

    const cases = [
      { op: "read", mode: "throw", status: 0x281, name: "Unrecovered Read Error" },
      { op: "read", mode: "reject", status: 0x281, name: "Unrecovered Read Error" },
      { op: "write", mode: "throw", status: 0x280, name: "Write Fault" },
      { op: "write", mode: "reject", status: 0x280, name: "Write Fault" },
    ] as const;
    let failedCommands = 0;
    for (const k of cases) {
      const what = `${k.op} fault (${k.mode})`;
      const cmd =
        k.op === "read"
          ? `dd if=/dev/nvme0n2 bs=4k skip=${bad / BLOCK} count=1 iflag=direct | md5sum`
          : `dd if=/tmp/pat of=/dev/nvme0n2 bs=4k skip=2 seek=${bad / BLOCK} count=1 oflag=direct conv=notrunc`;
      const failuresBefore = scratch.failures[k.op];
      scratch.fail({ op: k.op, offset: bad, length: BLOCK, mode: k.mode });
      const t = performance.now();
      // A hang would run into this timeout (Linux's own I/O timeout is 30 s).
      const r = await g.run(k.op === "read" ? `set -o pipefail; ${cmd}; x=$?; set +o pipefail; (exit $x)` : cmd, 25_000);
      const secs = (performance.now() - t) / 1000;
      scratch.clear();
      const attempts = scratch.failures[k.op] - failuresBefore;
      failedCommands += attempts;
      // Linux turns the media error status into BLK_STS_MEDIUM, which reaches user space as ENODATA.
      expect(r.status, `${what}: ${r.out}`).not.toBe(0);
      expect(r.out, what).toMatch(/No data available|Input\/output error/);
      expect(secs, what).toBeLessThan(10);
      expect(attempts, what).toBeGreaterThanOrEqual(1); // Linux retries a media error without DNR (nvme_core.max_retries, 5)
      const dmesg = await g.ok("dmesg -c");
      // The NVMe opcode (Read 02h, Write 01h) and status as the driver logs them, then the block layer's line (REQ_OP_READ 0, REQ_OP_WRITE 1).
      const opcode = k.op === "read" ? 2 : 1;
      expect(dmesg, what).toMatch(new RegExp(`nvme0n2: .*\\(0x${opcode}\\) @ LBA ${lba}, 8 blocks, .*\\(sct 0x2 / sc 0x${(k.status & 0xff).toString(16)}\\)`));
      expect(dmesg, what).toMatch(new RegExp(`critical medium error, dev nvme0n2, sector ${lba} op 0x${k.op === "read" ? 0 : 1}:\\(${k.op.toUpperCase()}\\)`));
      // The Error Information log has one entry per failed command, the newest for this one.
      const e = await newestError();
      expect(e.status_field, what).toMatch(new RegExp(`^0x${k.status.toString(16)}\\(${k.name}`));
      expect(Number(e.nsid), what).toBe(2);
      expect(Number(e.lba), what).toBe(lba); // the failed command's first LBA
      expect(Number(e.sqid), what).toBeGreaterThanOrEqual(1);
      expect(Number(e.error_count), what).toBe(countBefore + failedCommands);
      note(
        `${what}: ${r.out.split("\n").find((l) => /No data|Input\/output/.test(l))} after ${secs.toFixed(2)} s, ${attempts} attempts; ` +
          `dmesg: ${dmesg.split("\n").map((l) => l.replace(/^\[[\s\d.]+\]\s*/, "").trim()).join(" | ")}; ` +
          `newest error-log entry: error_count ${e.error_count}, sqid ${e.sqid}, status_field ${e.status_field}, nsid ${e.nsid}, lba ${e.lba}`,
      );

      // The fault is gone: the same I/O succeeds and moves the right bytes.
      const again = await g.run(cmd, 25_000);
      expect(again.status, `${what}, cleared: ${again.out}`).toBe(0);
      if (k.op === "read") expect(again.out).toContain(pat);
      expect(md5(backendBytes(scratch, bad, BLOCK))).toBe(pat);
      expect(await g.ok("dmesg -c")).toBe("");
    }
    // SMART counts every failed command as a media error.
    expect(await smartErrors()).toBe(mediaBefore + failedCommands);
    // The pattern is whole, read back through the device.
    const all = (await g.ok(`dd if=/dev/nvme0n2 bs=64k skip=${FAULT_AREA / 65536} count=1 iflag=direct 2>/dev/null | md5sum`)).split(/\s+/)[0];
    expect(all).toBe((await g.ok("md5sum /tmp/pat")).split(/\s+/)[0]);
    note(`media errors: ${failedCommands} failed commands, SMART media_errors ${mediaBefore} -> ${mediaBefore + failedCommands}`);
    const c = g.counters();
    expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
  }, 120_000);

  it("loses nothing when the controller is reset in the middle of I/O", async () => {
    await g.ok("dmesg -c >/dev/null");
    await g.ok("dd if=/dev/urandom of=/root/a bs=64k count=64 2>/dev/null && sync");
    const sum = (await g.ok("md5sum /root/a")).split(/\s+/)[0];
    expect(sum).toMatch(/^[0-9a-f]{32}$/);
    const disablesBefore = g.controllerDisables();
    const adminBefore = g.counters().controller.adminCommands;

    await g.ok("dd if=/dev/nvme0n1 of=/dev/null bs=4k iflag=direct count=20000 >/tmp/dd.log 2>&1 & bg=$!");
    // Let it get going, make sure it is still running, then reset under it.
    await g.ok("sleep 1; kill -0 $bg");
    const readsBefore = g.counters().controller.readCommands;
    const reset = await g.run("nvme reset /dev/nvme0", 60_000);
    const readsAtReset = g.counters().controller.readCommands;
    const stillRunning = await g.run("kill -0 $bg");
    const waited = await g.run("wait $bg", 120_000);
    const ddLog = await g.ok("cat /tmp/dd.log");
    expect(reset.status, reset.out).toBe(0);
    expect(stillRunning.status).toBe(0); // the reset happened while dd was reading
    expect(waited.status, ddLog).toBe(0);
    expect(ddLog).toMatch(/^20000\+0 records in/m);
    const readsAfter = g.counters().controller.readCommands;
    note(`reads by the time dd had run 1 s: before the reset ${readsBefore}, when nvme reset returned ${readsAtReset}, at the end ${readsAfter} (controller totals)`);
    expect(readsAfter - readsAtReset).toBeGreaterThan(0);
    expect(g.controllerDisables()).toBe(disablesBefore + 1);
    expect(g.counters().controller.adminCommands).toBeGreaterThan(adminBefore);

    await g.ok("echo 3 > /proc/sys/vm/drop_caches");
    expect((await g.ok("md5sum /root/a")).split(/\s+/)[0]).toBe(sum);
    // The device still works for writes, too.
    await g.ok("dd if=/root/a of=/root/b bs=64k 2>/dev/null && sync && echo 3 > /proc/sys/vm/drop_caches && cmp /root/a /root/b && rm /root/b");

    const dmesg = await g.run("dmesg");
    note(`dmesg around the reset:\n${dmesg.out || "(empty)"}`);
    note(`CC writes by the guest: ${g.ccWrites.map((v) => `0x${v.toString(16)}`).join(" ")}`);
    expect(dmesg.out).not.toMatch(/I\/O error|blk_update_request|critical .* error|Buffer I\/O|EXT4-fs error|timeout|Abort/i);
  }, 240_000);

  it("passes fio crc32c verify of random writes during which the controller was reset twice", async () => {
    const SIZE = 12 << 20;
    const BLOCKS = SIZE / 4096;
    const ctl = g.nvme.controller;
    const writes = (): number => ctl.counters.writeCommands;
    await g.ok("dmesg -c >/dev/null");
    // A fresh region and a fresh seed: nothing left from an earlier write can pass the verify.
    scratch.inner.writeZeroes(0, SIZE);
    const seed = 1 + Math.floor(Math.random() * 2 ** 31);
    const job =
      `fio --name=rst --filename=/dev/nvme0n2 --offset=0 --size=${SIZE} --bs=4k --rw=randwrite --ioengine=libaio --iodepth=16 ` +
      `--direct=1 --verify=crc32c --randseed=${seed} --eta=never`;
    // Before each reset the disk turns slow, so writes sit in the device when Linux deletes its
    // I/O SQ: those complete as aborted (Linux retries them after the reset) and their late
    // backend results are dropped. The disk is fast again from that moment: Linux 6.1 re-sends
    // Doorbell Buffer Config only after the retried commands completed (fixed upstream in 2024,
    // "nvme: Inform controller of doorbell config before unquiescing IO queues"), and until then
    // it updates the CQ head in the shadow page only, so completions spread over several
    // interrupts would leave the INTx line up with a head the device cannot see.
    const aborted: number[] = [];
    const inside = deviceOf(ctl);
    const abortSq = inside.abortSqCommands.bind(inside);
    inside.abortSqCommands = (sqid: number): void => {
      const before = ctl.counters.inflight;
      abortSq(sqid);
      if (sqid !== 0) {
        aborted.push(before - ctl.counters.inflight);
        scratch.latencyMs = 0;
      }
    };
    const disablesBefore = g.controllerDisables();
    const w0 = writes();
    const t0 = performance.now();
    const resets: string[] = [];
    try {
      await g.ok(`${job} --do_verify=0 --output=/tmp/fio-w.log 2>/tmp/fio-w.err </dev/null & fio=$!`);
      for (const frac of [0.2, 0.45]) {
        await until(() => writes() - w0 >= frac * BLOCKS, 60_000, `${frac * 100}% of the writes`);
        scratch.latencyMs = 300;
        await until(() => scratch.pending >= 4, 5_000, "writes held in the device");
        const atReset = writes() - w0;
        const pending = scratch.pending;
        const t = performance.now();
        const r = await g.run("nvme reset /dev/nvme0", 30_000);
        const resetMs = performance.now() - t;
        scratch.latencyMs = 0;
        expect(r.status, r.out).toBe(0);
        // fio had writes left when the reset was over (the counter also holds the retried ones).
        const afterReset = writes() - w0 - aborted.reduce((a, b) => a + b, 0);
        expect(afterReset, "writes done when the reset was over").toBeLessThan(BLOCKS);
        resets.push(`at ${atReset} of ${BLOCKS} writes (${pending} in the backend), nvme reset took ${resetMs.toFixed(0)} ms`);
      }
      expect(g.controllerDisables()).toBe(disablesBefore + 2);
      // Each reset found writes in flight inside the device.
      expect(aborted).toHaveLength(2);
      for (const n of aborted) expect(n).toBeGreaterThan(0);
      const wait = await g.run("wait $fio", 120_000);
      const writeSecs = (performance.now() - t0) / 1000;
      const log = await g.ok("cat /tmp/fio-w.log /tmp/fio-w.err");
      expect(wait.status, log).toBe(0);
      expect(log).toMatch(/err= 0/);
      expect(log).toMatch(new RegExp(`issued rwts: total=0,${BLOCKS},`));
      const writeCmds = writes() - w0;
      expect(writeCmds).toBeGreaterThanOrEqual(BLOCKS);
      note(
        `fio randwrite ${SIZE >> 20} MiB QD16 with 2 resets: ${writeSecs.toFixed(1)} s; ${/write: IOPS=[^,]+/.exec(log)?.[0]}; ` +
          `write commands ${writeCmds} for ${BLOCKS} blocks; resets ${resets.join("; ")}; commands aborted by SQ deletion: ${aborted.join(", ")}`,
      );
    } finally {
      inside.abortSqCommands = abortSq;
      scratch.latencyMs = 0;
    }
    // Let writes the resets left in the backend land (they carry the same data as their retries).
    await until(() => scratch.pending === 0, 5_000, "the backend to settle");

    // No lost write, seen from the host: every 4 KiB block carries fio's verify header (magic
    // 0xacca, crc32c, 4096 bytes) for its own offset.
    const bytes = backendBytes(scratch, 0, SIZE);
    const dv = new DataView(bytes.buffer);
    const missing: number[] = [];
    for (let i = 0; i < BLOCKS; i++) {
      const o = i * 4096;
      if (dv.getUint16(o, true) !== 0xacca || dv.getUint32(o + 4, true) !== 4096 || dv.getUint32(o + 16, true) !== o || dv.getUint32(o + 20, true) !== 0) missing.push(i);
    }
    expect(missing.slice(0, 10), `${missing.length} blocks without their fio header`).toEqual([]);

    // fio's verify pass: re-reads every block written and checks its crc32c and header.
    const t1 = performance.now();
    const verify = await g.run(`${job} --verify_only --verify_fatal=1`, 120_000);
    const verifySecs = (performance.now() - t1) / 1000;
    expect(verify.status, verify.out).toBe(0);
    expect(verify.out).toMatch(/err= 0/);
    expect(verify.out).toMatch(new RegExp(`issued rwts: total=${BLOCKS},`));
    expect(verify.out).not.toMatch(/verify failed|bad magic|bad header|wanted [0-9a-f]+,? got|crc32c: verify/i);
    note(`fio verify_only: ${verifySecs.toFixed(1)} s; ${/read: IOPS=[^,]+/.exec(verify.out)?.[0]}; ${/issued rwts: \S+/.exec(verify.out)?.[0]}; 0 verify errors`);

    const dmesg = await g.run("dmesg");
    note(`dmesg around the resets:\n${dmesg.out || "(empty)"}`);
    expect(dmesg.out.match(/resetting controller/g)?.length).toBe(2);
    expect(dmesg.out).not.toMatch(/I\/O error|blk_update_request|critical .* error|Buffer I\/O|EXT4-fs error|timeout|Abort|nobody cared|Disabling IRQ/i);
    const c = g.counters();
    expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
  }, 240_000);

  it("resumes I/O after save_state/restore_state in the middle of a read loop", async () => {
    const CHUNK = 2 << 20; // each iteration reads 2 MiB of nvme0n1 with O_DIRECT and checksums it
    const N = 48;
    await g.ok("rm -f /tmp/sums /tmp/loop.done; sync");
    await g.ok(
      `(i=0; while [ $i -lt ${N} ]; do dd if=/dev/nvme0n1 bs=64k count=32 skip=$((i*32)) iflag=direct 2>/dev/null | md5sum >>/tmp/sums; i=$((i+1)); done; echo done >/tmp/loop.done) >/dev/null 2>&1 </dev/null & loop=$!`,
    );
    // Wait until the loop is under way.
    for (let i = 0; i < 100; i++) {
      const n = Number((await g.ok("cat /tmp/sums 2>/dev/null | wc -l")).trim());
      if (n >= 2) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    // Save at a moment the controller has a completion posted and its interrupt line up (the
    // guest has not handled it yet): the restored machine must take that interrupt. Checked
    // between the emulator's slices of work; usually found within a few milliseconds.
    const t0 = performance.now();
    while (g.nvme.controller.counters.irq !== 1 && performance.now() - t0 < 5000) await new Promise((r) => setImmediate(r));
    const atSave = g.counters().controller;
    const fetchedBefore = atSave.sqesFetched;
    const saved = await g.saveState();
    note(`save_state: ${(saved.byteLength / 1048576).toFixed(1)} MiB; controller at save: irq ${atSave.irq}, inflight ${atSave.inflight}, sqesFetched ${atSave.sqesFetched}, cqesPosted ${atSave.cqesPosted}`);
    // Let the guest run on (and read on), then rewind it.
    await new Promise((r) => setTimeout(r, 2000));
    const ranOn = g.counters().controller.sqesFetched - fetchedBefore;
    await g.restoreState(saved);
    const afterRestore = g.counters().controller;
    note(`commands fetched between save and restore: ${ranOn} (the loop issues about ${N * 32}); sqesFetched after restore: ${afterRestore.sqesFetched}`);
    expect(ranOn).toBeGreaterThan(0);
    expect(afterRestore.sqesFetched).toBe(fetchedBefore); // the controller went back with the machine

    // The loop goes on from where the snapshot was taken and finishes.
    const t = performance.now();
    await g.ok(`wait $loop; cat /tmp/loop.done`, 180_000);
    note(`the loop finished ${((performance.now() - t) / 1000).toFixed(1)} s after the restore; fetched since: ${g.counters().controller.sqesFetched - fetchedBefore}`);
    expect(g.counters().controller.sqesFetched).toBeGreaterThan(fetchedBefore);
    const sums = (await g.ok("cat /tmp/sums")).split("\n").map((l) => l.split(/\s+/)[0]).filter(Boolean);
    expect(sums).toHaveLength(N);
    sums.forEach((s, i) => expect(s, `chunk ${i}`).toBe(md5(g.diskBytes(i * CHUNK, CHUNK))));

    // A fresh read after the restore sees exactly the disk's bytes.
    const off = 96 << 20;
    const fresh = (await g.ok(`dd if=/dev/nvme0n1 bs=1M count=8 skip=${off >> 20} iflag=direct 2>/dev/null | md5sum`)).split(/\s+/)[0];
    expect(fresh).toBe(md5(g.diskBytes(off, 8 << 20)));
    const dmesg = await g.run("dmesg | grep -iE 'nvme|I/O error|timeout' | tail -20");
    note(`dmesg after restore: ${dmesg.out || "(nothing about nvme)"}`);
    expect(dmesg.out).not.toMatch(/I\/O error|timeout/i);
    const c = g.counters();
    expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
  }, 300_000);
});
