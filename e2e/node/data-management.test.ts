// Formats and data-management commands from a real Linux guest with nvme-cli 2.3, one boot. The root
// file system is on v86's IDE disk (a sanitize erases every namespace, nvme0n1 included); the
// controller has the image as nvme0n1 (copy-on-write, never mounted here) and a 16 MiB scratch
// namespace nvme0n2 on a backend that can be told to fail reads (faulty-backend.ts), which ends
// formatted with protection information (Linux's block-integrity path) and extended LBAs.
//
// Needs the guest in public/ (bash scripts/build-guest.sh). About 1-2 minutes on a quiet machine.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { FaultyBackend } from "./faulty-backend.ts";
import { Guest } from "../../test/project-guest/guest.ts";
import { fields, md5, note, serialTailOnFailure } from "./support.ts";
import { crc16T10Dif } from "../../src/spec/protection.ts";

const SCRATCH_BYTES = 16 << 20;
/** The Sanitize Status log's first four bytes (SPROG, SSTAT) as hex. */
const sstatBytes = "nvme sanitize-log /dev/nvme0 -b | od -An -tx1 -N4";
const ZEROS_64K = md5(new Uint8Array(65536));

describe("formats and data-management commands from nvme-cli (root on IDE)", () => {
  let g: Guest;
  const memory = new MemoryBackend(SCRATCH_BYTES);
  const scratch = new FaultyBackend(memory);
  const host = (offset: number, length: number) => {
    const out = new Uint8Array(length);
    memory.tryRead(offset, out);
    return out;
  };
  /** md5 of `count` blocks of `bs` bytes at block `skip` of nvme0n2, read with O_DIRECT. */
  const guestMd5 = async (bs: number, skip: number, count: number) =>
    (await g.ok(`dd if=/dev/nvme0n2 bs=${bs} skip=${skip} count=${count} iflag=direct 2>/dev/null | md5sum`)).split(/\s+/)[0];

  beforeAll(async () => {
    g = await Guest.boot({ ide: true, label: "ide", serial: "V86DATA001", extraNamespaces: [{ backend: scratch }], bootTimeoutMs: 600_000 });
    note(`boot to the shell prompt: ${(g.bootMs / 1000).toFixed(1)} s`);
    expect(await g.ok("cat /proc/mounts")).not.toMatch(/nvme/);
  }, 660_000);

  serialTailOnFailure(() => g);

  afterAll(async () => {
    await g?.stop();
  }, 20_000);

  it("id-ctrl and id-ns show the formats, Format NVM, Sanitize, Verify, Copy and Write Uncorrectable", async () => {
    const ctrl = fields(await g.ok("nvme id-ctrl /dev/nvme0"));
    expect(Number(ctrl.oacs) & 0x2).toBe(0x2);
    expect(Number(ctrl.oncs) & 0x182).toBe(0x182);
    expect(Number(ctrl.sanicap) & 0x7).toBe(0x2);
    expect(Number(ctrl.fna)).toBe(0);
    expect(Number(ctrl.ocfs)).toBe(1);
    const ns = await g.ok("nvme id-ns /dev/nvme0n2");
    const f = fields(ns);
    expect(Number(f.nlbaf)).toBe(5);
    expect(ns).toMatch(/lbaf\s+0 : ms:0\s+lbads:9\s+rp:0x2 \(in use\)/);
    expect(ns).toMatch(/lbaf\s+1 : ms:0\s+lbads:12\s+rp:0\s/);
    expect(Number(f.mssrl)).toBe(256);
    expect(Number(f.mcl)).toBe(2048);
    expect(Number(f.msrc)).toBe(127);
    note(`id-ctrl: oacs ${ctrl.oacs} oncs ${ctrl.oncs} sanicap ${ctrl.sanicap} fna ${ctrl.fna} ocfs ${ctrl.ocfs}; id-ns nvme0n2: ${ns.split("\n").filter((l) => /lbaf|mssrl|mcl|msrc/.test(l)).join("; ")}`);
  }, 60_000);

  it("nvme format -l 1 gives 4096-byte blocks that read as zeros, -l 0 --ses=1 goes back to 512", async () => {
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=64k count=4 oflag=direct 2>/dev/null");
    expect(md5(host(0, 65536))).not.toBe(ZEROS_64K);
    const out = await g.ok("nvme format /dev/nvme0n2 -l 1 --force");
    note(`nvme format -l 1: ${out.trim()}`);
    expect((await g.ok("blockdev --getss /dev/nvme0n2")).trim()).toBe("4096");
    expect((await g.ok("cat /sys/block/nvme0n2/queue/logical_block_size")).trim()).toBe("4096");
    expect(await g.ok("nvme id-ns /dev/nvme0n2")).toMatch(/lbaf\s+1 : ms:0\s+lbads:12\s+rp:0 \(in use\)/);
    expect(md5(host(0, 65536))).toBe(ZEROS_64K);
    expect(await guestMd5(4096, 0, 16)).toBe(ZEROS_64K);
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=4096 count=16 oflag=direct 2>/dev/null");
    expect(await guestMd5(4096, 0, 16)).toBe(md5(host(0, 65536)));

    await g.ok("nvme format /dev/nvme0n2 -l 0 --ses=1 --force");
    expect((await g.ok("blockdev --getss /dev/nvme0n2")).trim()).toBe("512");
    expect(Number((await g.ok("cat /sys/block/nvme0n2/size")).trim())).toBe(SCRATCH_BYTES / 512);
    expect(md5(host(0, 65536))).toBe(ZEROS_64K);
    expect(await guestMd5(512, 0, 128)).toBe(ZEROS_64K);
  }, 120_000);

  it("nvme copy copies source ranges inside the device", async () => {
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=512 seek=100 count=8 oflag=direct 2>/dev/null");
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=512 seek=300 count=4 oflag=direct 2>/dev/null");
    const before = g.counters().controller;
    // --blocks are NLB fields as the spec has them: 0's based.
    const out = await g.ok("nvme copy /dev/nvme0n2 --sdlba=1000 --slbs=100,300 --blocks=7,3");
    const after = g.counters().controller;
    note(`nvme copy: ${out.trim()}`);
    expect(after.bytesRead - before.bytesRead).toBe(0); // no data through the guest
    expect(after.bytesWritten - before.bytesWritten).toBe(0);
    const expected = new Uint8Array(12 * 512);
    expected.set(host(100 * 512, 8 * 512));
    expected.set(host(300 * 512, 4 * 512), 8 * 512);
    expect(md5(host(1000 * 512, 12 * 512))).toBe(md5(expected));
    expect(await guestMd5(512, 1000, 12)).toBe(md5(expected));
    const tooMany = await g.run("nvme copy /dev/nvme0n2 --sdlba=1000 --slbs=0 --blocks=256");
    expect(tooMany.status).not.toBe(0);
    note(`nvme copy of 257 blocks in one range: ${tooMany.out.trim()}`);
  }, 60_000);

  it("nvme verify reads the range in the device and fails like a read on a media error", async () => {
    expect(await g.ok("nvme verify /dev/nvme0n2 --start-block=0 --block-count=2047")).toMatch(/success/i);
    scratch.fail({ op: "read", offset: 4096 * 512, length: 512, mode: "throw" });
    const bad = await g.run("nvme verify /dev/nvme0n2 --start-block=4000 --block-count=200");
    scratch.clear();
    note(`nvme verify over a failing block: ${bad.out.trim()}`);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/UNRECOVERED_READ|Unrecovered Read/i);
    expect(await g.ok("nvme verify /dev/nvme0n2 --start-block=4000 --block-count=200")).toMatch(/success/i);
  }, 60_000);

  it("nvme write-uncor makes reads fail with an I/O error until the blocks are rewritten", async () => {
    await g.ok("nvme write-uncor /dev/nvme0n2 --start-block=2000 --block-count=7");
    const bad = await g.run("dd if=/dev/nvme0n2 of=/dev/null bs=512 skip=2003 count=1 iflag=direct");
    note(`read of an uncorrectable block: exit ${bad.status}: ${bad.out.trim().split("\n")[0]}`);
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/Input\/output error|No data available/);
    expect((await g.run("dd if=/dev/nvme0n2 of=/dev/null bs=512 skip=1999 count=1 iflag=direct 2>/dev/null")).status).toBe(0);
    expect((await g.run("nvme verify /dev/nvme0n2 --start-block=2006 --block-count=0")).status).not.toBe(0);
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=512 seek=2000 count=8 oflag=direct 2>/dev/null");
    expect(await guestMd5(512, 2000, 8)).toBe(md5(host(2000 * 512, 8 * 512)));
  }, 60_000);

  it("nvme sanitize -a 2 erases every namespace in the background; sanitize-log shows it", async () => {
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=64k count=4 oflag=direct 2>/dev/null");
    const out = await g.ok("nvme sanitize /dev/nvme0 -a 2");
    note(`nvme sanitize -a 2: ${out.trim()}`);
    const log = await g.ok("i=0; while ! nvme sanitize-log /dev/nvme0 | grep -q 'SPROG.*65535'; do i=$((i+1)); [ $i -gt 100 ] && break; sleep 0.1; done; nvme sanitize-log /dev/nvme0");
    note(`nvme sanitize-log:\n${log}`);
    expect(log).toMatch(/\(SPROG\)\s*:\s*65535/);
    expect(log).toMatch(/\(SSTAT\)\s*:\s*0x1\b/); // nvme-cli shows the status bits only
    expect(log).toMatch(/\(SCDW10\)\s*:\s*0x2\b/);
    expect(await g.ok("nvme sanitize-log /dev/nvme0 -H")).toMatch(/Completed Successfully/i);
    // SPROG, then SSTAT with Global Data Erased (bit 8): nothing written since.
    expect((await g.ok(sstatBytes)).trim()).toBe("ff ff 01 01");
    expect(md5(host(0, 65536))).toBe(ZEROS_64K);
    const first = new Uint8Array(65536);
    g.disk.tryRead(0, first); // namespace 1: the overlay dropped and the image under it reads as zeros
    expect(md5(first)).toBe(ZEROS_64K);
    expect(await guestMd5(512, 0, 128)).toBe(ZEROS_64K);
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=512 count=1 oflag=direct 2>/dev/null");
    expect((await g.ok(sstatBytes)).trim()).toBe("ff ff 01 00"); // written since: no longer Global Data Erased
  }, 60_000);

  it("nvme format --pi=1 gives Linux a T10-DIF type 1 device: it generates and checks PI, and a guard changed behind its back fails the read (EILSEQ, 282h)", async () => {
    await g.ok("nvme format /dev/nvme0n2 --lbaf=2 --pi=1 --force");
    const ns = await g.ok("nvme id-ns /dev/nvme0n2");
    expect(ns).toMatch(/lbaf\s+2 : ms:8\s+lbads:9\s+rp:0x2 \(in use\)/);
    expect([fields(ns).mc, fields(ns).dpc, fields(ns).dps].map(Number)).toEqual([3, 0x1f, 1]);
    const integrity = await g.ok("cd /sys/block/nvme0n2/integrity && for f in format tag_size protection_interval_bytes read_verify write_generate; do echo \"$f: $(cat $f)\"; done");
    note(`/sys/block/nvme0n2/integrity after nvme format --lbaf=2 --pi=1:\n${integrity}`);
    expect(fields(integrity)).toMatchObject({ format: "T10-DIF-TYPE1-CRC", protection_interval_bytes: "512", read_verify: "1", write_generate: "1" });
    expect(Number((await g.ok("cat /sys/block/nvme0n2/size")).trim())).toBe(SCRATCH_BYTES / 512);

    // The block layer's PI: written with the data (separate buffer), checked by the controller and by Linux on the way back.
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=64k count=16 oflag=direct 2>/dev/null");
    expect(await guestMd5(65536, 0, 16)).toBe(md5(host(0, 16 * 65536)));
    const fio = await g.run("fio --name=pi --filename=/dev/nvme0n2 --direct=1 --ioengine=psync --rw=randwrite --bs=4k --size=1M --offset=4M --verify=crc32c --do_verify=1 --output-format=terse 2>&1", 300_000);
    expect(fio.status).toBe(0);
    // nvme read with the metadata: the PI tuple Linux made for block 37 (Guard, Application Tag 0, Reference Tag 37).
    const pi = await g.ok("nvme read /dev/nvme0n2 --start-block=37 --block-count=0 --data-size=512 --data=/tmp/d --metadata-size=8 --metadata=/tmp/m >/dev/null 2>&1 && od -An -tx1 /tmp/m");
    const block = host(37 * 512, 512);
    const guard = crc16T10Dif(block);
    expect(pi.trim().split(/\s+/)).toEqual([guard >> 8, guard & 0xff, 0, 0, 0, 0, 0, 37].map((b) => b.toString(16).padStart(2, "0")));

    // A byte changed on the disk under the controller: the Guard no longer matches, the read fails.
    memory.write(37 * 512 + 9, Uint8Array.of(block[9] ^ 0x5a), false);
    await g.ok("dmesg -c >/dev/null");
    const bad = await g.run("dd if=/dev/nvme0n2 of=/dev/null bs=512 skip=37 count=1 iflag=direct");
    const dmesg = await g.ok("dmesg");
    note(`read of a block with a corrupted guard: exit ${bad.status}: ${bad.out.trim().split("\n")[0]}; dmesg:\n${dmesg.trim()}`);
    expect(bad.status).not.toBe(0);
    // BLK_STS_PROTECTION reaches the reader as EILSEQ.
    expect(bad.out).toMatch(/Invalid or incomplete multibyte or wide character/);
    expect(dmesg).toMatch(/sc 0x82|Guard Check/i);
    expect(dmesg).toMatch(/protection error/);
    const nvmeRead = await g.run("nvme read /dev/nvme0n2 --start-block=37 --block-count=0 --data-size=512 --data=/tmp/d --metadata-size=8 --metadata=/tmp/m --prinfo=4 2>&1");
    expect(nvmeRead.out).toMatch(/GUARD_CHECK|Guard Check|282\b/i);
  }, 420_000);

  it("extended LBAs: with 8 bytes of PI Linux uses PRACT and no integrity profile; 16 bytes without PI leave it capacity 0", async () => {
    await g.ok("nvme format /dev/nvme0n2 --lbaf=2 --pi=1 --ms=1 --force");
    expect(fields(await g.ok("nvme id-ns /dev/nvme0n2")).flbas).toBe("0x12");
    const integrity = (await g.ok("cat /sys/block/nvme0n2/integrity/format")).trim();
    const size = Number((await g.ok("cat /sys/block/nvme0n2/size")).trim());
    note(`extended LBAs with 8 bytes of PI: integrity/format ${integrity}, size ${size} sectors`);
    expect(integrity).toBe("none");
    expect(size).toBe(SCRATCH_BYTES / 512);
    await g.ok("dd if=/dev/urandom of=/dev/nvme0n2 bs=64k count=4 oflag=direct 2>/dev/null");
    expect(await guestMd5(65536, 0, 4)).toBe(md5(host(0, 4 * 65536)));

    await g.ok("nvme format /dev/nvme0n2 --lbaf=3 --pi=0 --ms=1 --force");
    const size16 = Number((await g.ok("cat /sys/block/nvme0n2/size")).trim());
    note(`extended LBAs with 16 bytes of metadata and no PI: size ${size16} sectors`);
    expect(size16).toBe(0);
    await g.ok("nvme format /dev/nvme0n2 --lbaf=0 --force");
    expect(Number((await g.ok("cat /sys/block/nvme0n2/size")).trim())).toBe(SCRATCH_BYTES / 512);
  }, 120_000);
});
