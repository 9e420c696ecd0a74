// SGL data transfer (PSDT 01b): a single Data Block in the command, Segment / Last Segment chains,
// Bit Buckets on reads, dword-aligned buffers that split blocks, a slow backend, and every status
// a hostile SGL must get — with nothing stored outside the buffers it names.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, same, sglBytes, type SglDescriptor } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import type { BlockBackend } from "../src/backends/block-backend.ts";
import * as O from "../src/spec/opcodes.ts";

const sc = (s: number) => s & 0x7ff;
const SGL = 0x40; // PSDT 01b
const DATA = 0;
const BUCKET = 1;
const SEGMENT = 2;
const LAST = 3;

const data = (addr: number, len: number): SglDescriptor => ({ addr, len, type: DATA });
const bucket = (len: number): SglDescriptor => ({ addr: 0, len, type: BUCKET });

async function ready(backend: BlockBackend = new MemoryBackend(4 << 20)) {
  const d = await HostDriver.create({ namespaces: [{ backend }], mdts: 9 }, 8 << 20);
  await d.bringUp({ pairs: 1 });
  return d;
}

/** Writes `descs` as a segment at a fresh address (or `at`); returns the descriptor pointing at it. */
function segment(d: HostDriver, descs: SglDescriptor[], type = LAST, at?: number): SglDescriptor {
  const addr = at ?? d.mem.alloc(descs.length * 16, 16);
  descs.forEach((x, i) => d.mem.fill(addr + i * 16, sglBytes(x)));
  return { addr, len: descs.length * 16, type };
}

const sglCommands = (d: HostDriver) => d.ctrl.counters.sglCommands;

const read = (d: HostDriver, sgl: SglDescriptor, blocks: number, slba = 0, flags = SGL) =>
  d.run(1, { opcode: O.IO_READ, nsid: 1, flags, sgl, cdw10: slba, cdw12: blocks - 1 });
const write = (d: HostDriver, sgl: SglDescriptor, blocks: number, slba = 0) =>
  d.run(1, { opcode: O.IO_WRITE, nsid: 1, flags: SGL, sgl, cdw10: slba, cdw12: blocks - 1 });

describe("SGL data transfer", () => {
  it("reads and writes through one Data Block in the command", async () => {
    const disk = new MemoryBackend(4 << 20);
    const d = await ready(disk);
    const content = pattern(64 * 1024, 1);
    disk.write(0, content, false);
    const buf = d.mem.alloc(64 * 1024);
    const before = sglCommands(d);
    expect((await read(d, data(buf, 64 * 1024), 128)).status).toBe(0);
    expect(same(d.mem.bytes(buf, 64 * 1024), content)).toBe(true);
    const fresh = pattern(8192, 2);
    d.mem.fill(buf, fresh);
    expect((await write(d, data(buf, 8192), 16, 256)).status).toBe(0);
    const back = new Uint8Array(8192);
    disk.tryRead(256 * 512, back);
    expect(back).toEqual(fresh);
    expect(sglCommands(d) - before).toBe(2);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("follows a Segment chain into a Last Segment, over dword-aligned pieces that split blocks", async () => {
    const disk = new MemoryBackend(4 << 20);
    const d = await ready(disk);
    const bytes = 8 * 512;
    const content = pattern(bytes, 3);
    disk.write(40 * 512, content, false);
    // Five pieces far apart, none page or block aligned in size: 100 + 1000 + 4 + 1948 + 1044 bytes.
    const sizes = [100, 1000, 4, 1948, 1044];
    const pieces = sizes.map((n) => d.mem.alloc(n + 64) + 36);
    const descs = pieces.map((a, i) => data(a, sizes[i]));
    const last = segment(d, descs.slice(3), LAST);
    const first = segment(d, [...descs.slice(0, 3), last], SEGMENT);
    expect((await read(d, first, 8, 40)).status).toBe(0);
    const got = Uint8Array.from(pieces.flatMap((a, i) => [...d.mem.bytes(a, sizes[i])]));
    expect(got).toEqual(content);
    // The bytes around each piece stay untouched.
    for (const [i, a] of pieces.entries()) {
      expect(d.mem.bytes(a - 4, 4)).toEqual(new Uint8Array(4));
      expect(d.mem.bytes(a + sizes[i], 4)).toEqual(new Uint8Array(4));
    }
    // The same chain writes them back, to other blocks.
    expect((await d.run(1, { opcode: O.IO_WRITE, nsid: 1, flags: SGL, sgl: first, cdw10: 80, cdw12: 7 })).status).toBe(0);
    const back = new Uint8Array(bytes);
    disk.tryRead(80 * 512, back);
    expect(back).toEqual(content);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("drops read data into a Bit Bucket, and refuses one on writes and compares", async () => {
    const disk = new MemoryBackend(4 << 20);
    const d = await ready(disk);
    const content = pattern(4 * 512, 4);
    disk.write(0, content, false);
    const a = d.mem.alloc(4096);
    const b = d.mem.alloc(4096);
    // Block 0 to a, blocks 1 and 2 dropped, block 3 to b.
    const seg = segment(d, [data(a, 512), bucket(512), bucket(512), data(b, 512)]);
    expect((await read(d, seg, 4)).status).toBe(0);
    expect(d.mem.bytes(a, 512)).toEqual(content.subarray(0, 512));
    expect(d.mem.bytes(b, 512)).toEqual(content.subarray(1536));
    expect(d.mem.bytes(a + 512, 512)).toEqual(new Uint8Array(512));
    // A read wholly into the bit bucket.
    expect((await read(d, bucket(2048), 4)).status).toBe(0);
    // Data from the host cannot come out of a bit bucket: SGL Descriptor Type Invalid.
    expect(sc((await write(d, seg, 4)).status)).toBe(0x011);
    expect(sc((await d.run(1, { opcode: O.IO_COMPARE, nsid: 1, flags: SGL, sgl: seg, cdw12: 3 })).status)).toBe(0x011);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("completes a read from a slow backend along the segments walked at fetch", async () => {
    const disk = new DeferredBackend(1 << 20);
    const content = pattern(2048, 5);
    disk.disk.write(0, content, false);
    const d = await ready(disk);
    const a = d.mem.alloc(4096);
    const b = d.mem.alloc(4096);
    const seg = segment(d, [data(a, 1000), bucket(24), data(b, 1024)]);
    const cid = d.submit(1, { opcode: O.IO_READ, nsid: 1, flags: SGL, sgl: seg, cdw12: 3 });
    d.ctrl.tick();
    // The host rewrites the segment before the data arrives: the walk already happened.
    d.mem.fill(seg.addr, sglBytes(data(b + 2048, 1000)));
    while (disk.pending === 0) await new Promise((r) => setTimeout(r, 0));
    await disk.release();
    let cqes = d.reap(1, 1);
    for (let i = 0; cqes.length === 0 && i < 100; i++) {
      d.ctrl.tick();
      await new Promise((r) => setTimeout(r, 0));
      cqes = d.reap(1, 1);
    }
    expect(cqes[0]).toMatchObject({ cid, status: 0 });
    expect(d.mem.bytes(a, 1000)).toEqual(content.subarray(0, 1000));
    expect(d.mem.bytes(b, 1024)).toEqual(content.subarray(1024));
    expect(d.mem.bytes(b + 2048, 1000)).toEqual(new Uint8Array(1000));
  });

  it("carries Dataset Management's range list in an SGL", async () => {
    const disk = new MemoryBackend(4 << 20);
    const d = await ready(disk);
    disk.write(0, pattern(4096, 6), false);
    const ranges = d.mem.alloc(16);
    d.mem.write32(ranges + 4, 8); // 8 blocks
    d.mem.write32(ranges + 8, 0); // from LBA 0
    const c = await d.run(1, { opcode: O.IO_DATASET_MANAGEMENT, nsid: 1, flags: SGL, sgl: data(ranges, 16), cdw10: 0, cdw11: 4 });
    expect(c.status).toBe(0);
    const back = new Uint8Array(4096);
    disk.tryRead(0, back);
    expect(back).toEqual(new Uint8Array(4096));
  });

  it("fails every hostile SGL with the spec's status and stores nothing", async () => {
    const d = await ready();
    const ram = d.mem.ramSize;
    const buf = d.mem.alloc(8192);
    const cases: [string, () => SglDescriptor, number][] = [
      ["Keyed Data Block", () => ({ addr: buf, len: 4096, type: 4 }), 0x011],
      ["vendor specific type", () => ({ addr: buf, len: 4096, type: 0xf }), 0x011],
      ["Data Block with sub type Offset", () => ({ addr: buf, len: 4096, type: DATA, subtype: 1 }), 0x011],
      ["bad type inside a segment", () => segment(d, [data(buf, 2048), { addr: buf, len: 2048, type: 5 }]), 0x011],
      ["Data Block shorter than the transfer", () => data(buf, 2048), 0x00f],
      ["Data Block longer than the transfer", () => data(buf, 8192), 0x00f],
      ["chain short of the transfer", () => segment(d, [data(buf, 1024), data(buf + 2048, 1024)]), 0x00f],
      ["descriptors past the transfer", () => segment(d, [data(buf, 4096), data(buf + 4096, 4)]), 0x00f],
      ["Data Block address not dword aligned", () => data(buf + 2, 4096), 0x026],
      ["Data Block length not dword granular", () => segment(d, [data(buf, 4094), data(buf + 4096, 2)]), 0x026],
      ["Segment of no descriptors", () => ({ addr: buf, len: 0, type: SEGMENT }), 0x00d],
      ["Last Segment length not a multiple of 16", () => ({ ...segment(d, [data(buf, 4096), data(buf, 0)]), len: 24 }), 0x00d],
      ["Segment descriptor before the end of a segment", () => segment(d, [segment(d, [data(buf, 4096)]), data(buf, 0)], SEGMENT), 0x00d],
      ["Segment descriptor ending a Last Segment", () => segment(d, [data(buf, 2048), segment(d, [data(buf + 2048, 2048)])], LAST), 0x00d],
      ["Data Block outside RAM", () => data(ram - 2048, 4096), 0x004],
      ["Data Block far outside RAM (MMIO)", () => data(0xf0000000, 4096), 0x004],
      ["Data Block with a high dword", () => data(2 ** 32 + buf, 4096), 0x004],
      ["segment outside RAM", () => ({ addr: ram - 16, len: 32, type: LAST }), 0x004],
      ["segment chained outside RAM", () => segment(d, [data(buf, 2048), { addr: ram, len: 16, type: LAST }], SEGMENT), 0x004],
    ];
    for (const [what, sgl, status] of cases) {
      const c = await read(d, sgl(), 8);
      expect(sc(c.status), what).toBe(status);
      expect(d.mem.bytes(buf, 8192), what).toEqual(new Uint8Array(8192));
    }
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("ends chains that loop or run past the descriptor limit with Invalid Number of SGL Descriptors", async () => {
    const d = await ready();
    const buf = d.mem.alloc(4096);
    // A segment whose last descriptor points back at itself: with a zero-length data block it
    // never ends; with 4 bytes of data each time it describes more than the transfer.
    const self = d.mem.alloc(32, 16);
    const loop = segment(d, [data(buf, 0), { addr: self, len: 32, type: SEGMENT }], SEGMENT, self);
    expect(sc((await read(d, loop, 8)).status)).toBe(0x00e);
    segment(d, [data(buf, 4), { addr: self, len: 32, type: SEGMENT }], SEGMENT, self);
    expect(sc((await read(d, loop, 8)).status)).toBe(0x00f);
    // Two segments pointing at each other, carrying zero-length data blocks only.
    const x = d.mem.alloc(32, 16);
    const y = d.mem.alloc(32, 16);
    segment(d, [data(buf, 0), { addr: y, len: 32, type: SEGMENT }], SEGMENT, x);
    segment(d, [data(buf, 0), { addr: x, len: 32, type: SEGMENT }], SEGMENT, y);
    expect(sc((await read(d, { addr: x, len: 32, type: SEGMENT }, 8)).status)).toBe(0x00e);
    // One segment of more descriptors than any command may have (4097).
    const huge = d.mem.alloc(4097 * 16, 16);
    expect(sc((await read(d, { addr: huge, len: 4097 * 16, type: LAST }, 8)).status)).toBe(0x00e);
    // Pieces of 4 bytes 8 bytes apart: 1280 segments, more than one command may map.
    const spread = d.mem.alloc(1280 * 8);
    const many = segment(d, Array.from({ length: 1280 }, (_, i) => data(spread + i * 8, 4)));
    expect(sc((await read(d, many, 10)).status)).toBe(0x00e);
    expect(d.mem.bytes(buf, 4096)).toEqual(new Uint8Array(4096));
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("takes SGLs for I/O only: PSDT 10b and 11b, and admin commands with SGLs, are Invalid Field", async () => {
    const d = await ready();
    const buf = d.mem.alloc(4096);
    expect(sc((await read(d, data(buf, 512), 1, 0, 0x80)).status)).toBe(0x002);
    expect(sc((await read(d, data(buf, 512), 1, 0, 0xc0)).status)).toBe(0x002);
    expect(sc((await d.admin({ opcode: O.ADMIN_IDENTIFY, flags: SGL, sgl: data(buf, 4096), cdw10: 1 })).status)).toBe(0x002);
    expect(d.mem.bytes(buf, 4096)).toEqual(new Uint8Array(4096));
  });
});
