// PRP walking: offsets, two-page transfers, PRP lists chained over several list pages, page sizes
// from CC.MPS, and hostile pointers (misaligned, outside guest RAM) that must fail cleanly.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, same } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";
import { deviceOf } from "../src/controller/controller.ts";

const sc = (s: number) => s & 0x7ff;

async function ready(mps = 0, ramSize = 8 << 20) {
  const disk = new MemoryBackend(4 << 20);
  const d = await HostDriver.create({ namespaces: [{ backend: disk }], mdts: 9 }, ramSize);
  d.enable(32, mps);
  await d.setNumQueues(1);
  await d.createCq(1, 64);
  await d.createSq(1, 64, 1);
  return { d, disk };
}

describe("PRP walk", () => {
  it("reads through PRP1 with an offset, PRP2 as second page, and PRP lists", async () => {
    const { d, disk } = await ready();
    const content = pattern(2 << 20, 1);
    disk.write(0, content, false);
    for (const [bytes, offset] of [[512, 0], [512, 512], [4096, 0], [4096, 2048], [8192, 0], [8192, 512], [12288, 0], [65536, 1024], [128 * 1024, 0]]) {
      const [p1, p2, addr] = d.buffer(bytes, offset);
      const c = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw10: 8, cdw12: bytes / 512 - 1 });
      expect(c.status, `${bytes}@${offset}`).toBe(0);
      expect(same(d.mem.bytes(addr, bytes), content.subarray(8 * 512, 8 * 512 + bytes))).toBe(true);
    }
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("follows PRP lists chained across several list pages", async () => {
    const { d, disk } = await ready();
    const bytes = 2 << 20; // 512 pages: needs two chained list pages at 4 KiB
    const content = pattern(bytes, 2);
    disk.write(0, content, false);
    const data = d.mem.alloc(bytes);
    const pages = bytes / 4096;
    // List pages deliberately apart; the first starts at an offset inside its page.
    const l1 = d.mem.alloc(8192) + 4096 - 8 * 100; // 100 entries fit: 99 data + chain pointer
    const l2 = d.mem.alloc(4096);
    const l3 = d.mem.alloc(4096);
    const entries = Array.from({ length: pages - 1 }, (_, i) => data + (i + 1) * 4096);
    let e = 0;
    for (let i = 0; i < 99; i++) d.mem.write64(l1 + i * 8, entries[e++]);
    d.mem.write64(l1 + 99 * 8, l2);
    for (let i = 0; i < 511; i++) d.mem.write64(l2 + i * 8, entries[e++]);
    d.mem.write64(l2 + 511 * 8, l3);
    while (e < entries.length) d.mem.write64(l3 + (e - 99 - 511) * 8, entries[e++]);
    const c = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: data, prp2: l1, cdw10: 0, cdw12: bytes / 512 - 1 });
    expect(c.status).toBe(0);
    expect(same(d.mem.bytes(data, bytes), content)).toBe(true);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("uses the page size from CC.MPS", async () => {
    const { d, disk } = await ready(1); // 8 KiB pages
    const content = pattern(64 * 1024, 3);
    disk.write(0, content, false);
    const [p1, p2, addr] = d.buffer(64 * 1024, 4096);
    const c = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw12: 127 });
    expect(c.status).toBe(0);
    expect(same(d.mem.bytes(addr, 64 * 1024), content)).toBe(true);
  });

  it("fails hostile pointers with the spec's statuses and writes nothing outside guest RAM", async () => {
    const { d } = await ready();
    const ram = d.mem.ramSize;
    const good = d.mem.alloc(8192);
    const list = d.mem.alloc(4096);
    const cases: [string, number, number, number, number][] = [
      ["PRP1 not dword aligned", good + 2, 0, 1, 0x013],
      ["PRP1 outside RAM", ram, 0, 1, 0x004],
      ["PRP1 far outside RAM", 0xfff00000, 0, 1, 0x004],
      ["PRP1 with high dword", 2 ** 32 + good, 0, 1, 0x004],
      ["PRP2 page with offset", good, good + 4096 + 8, 16, 0x013],
      ["PRP2 page outside RAM", good, ram, 16, 0x004],
      ["PRP list outside RAM", good, ram + 4096, 24, 0x004],
      ["PRP list not qword aligned", good, list + 4, 24, 0x013],
    ];
    for (const [what, p1, p2, blocks, status] of cases) {
      const c = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw12: blocks - 1 });
      expect(sc(c.status), what).toBe(status);
    }
    // List entries: one misaligned, one outside RAM, one pointing at MMIO space.
    for (const [entry, status] of [[good + 4096 + 16, 0x013], [ram, 0x004], [0xf0000000, 0x004]]) {
      d.mem.write64(list, good + 4096);
      d.mem.write64(list + 8, entry);
      const c = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: good, prp2: list, cdw12: 23 });
      expect(sc(c.status)).toBe(status);
    }
    // Writes from outside RAM: must not read emulator memory into the disk either.
    const w = await d.run(1, { opcode: O.IO_WRITE, nsid: 1, prp1: ram - 4096 + 4, prp2: ram, cdw12: 15 });
    expect(sc(w.status)).toBe(0x004);
    expect(d.brokenCanaries()).toEqual([]);
    // The error log saw them.
    expect(deviceOf(d.ctrl).errors.count).toBeGreaterThan(0);
  });
});
