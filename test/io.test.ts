// NVM I/O commands against a RAM namespace: data, LBA ranges, MDTS, NLB semantics, statuses.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";
import { NAMESPACE_COMMANDS } from "../src/io/nvm.ts";
import { ioCommandSupported } from "../src/state/command-support.ts";

const sc = (s: number) => s & 0x7ff;

async function ready(blockSize: 512 | 4096 = 512) {
  const disk = new MemoryBackend(1 << 20);
  const d = await HostDriver.create({ namespaces: [{ backend: disk, logicalBlockSize: blockSize }, { backend: new MemoryBackend(64 * 4096), logicalBlockSize: 4096 }], mdts: 5 }, 8 << 20);
  await d.bringUp({ pairs: 1 });
  return { d, disk };
}

describe("I/O commands", () => {
  it("has a handler for every supported opcode but Flush, and none other", () => {
    for (let op = 0; op < 256; op++) expect(ioCommandSupported(op), `opcode ${op}`).toBe(op === O.IO_FLUSH || NAMESPACE_COMMANDS.has(op));
  });

  it("writes then reads back, NLB being 0's based", async () => {
    const { d, disk } = await ready();
    const data = pattern(512, 9);
    expect((await d.write(1, 1, 10, data)).status).toBe(0);
    const back = new Uint8Array(1024);
    disk.tryRead(9 * 512, back);
    expect(back.subarray(512)).toEqual(data);
    expect(back.subarray(0, 512).every((b) => b === 0)).toBe(true);
    const [c, got] = await d.read(1, 1, 10, 1);
    expect(c.status).toBe(0);
    expect(got).toEqual(data);
  });

  it("checks LBA ranges at both ends and with 64-bit SLBAs", async () => {
    const { d } = await ready();
    const blocks = (1 << 20) / 512;
    expect((await d.read(1, 1, blocks - 1, 1))[0].status).toBe(0);
    expect(sc((await d.read(1, 1, blocks - 1, 2))[0].status)).toBe(0x080);
    expect(sc((await d.read(1, 1, blocks, 1))[0].status)).toBe(0x080);
    expect(sc((await d.read(1, 1, 2 ** 32, 1))[0].status)).toBe(0x080);
    expect(sc((await d.read(1, 1, 2 ** 53, 1))[0].status)).toBe(0x080);
  });

  it("enforces MDTS (4 KiB << 5 = 128 KiB)", async () => {
    const { d } = await ready();
    expect((await d.read(1, 1, 0, 256))[0].status).toBe(0);
    expect(sc((await d.read(1, 1, 0, 257))[0].status)).toBe(0x002);
  });

  it("works with 4 KiB logical blocks", async () => {
    const { d } = await ready();
    const data = pattern(3 * 4096, 4);
    expect((await d.write(1, 2, 61, data, 4096)).status).toBe(0);
    const [c, back] = await d.read(1, 2, 61, 3, 4096);
    expect(c.status).toBe(0);
    expect(back).toEqual(data);
    expect(sc((await d.read(1, 2, 62, 3, 4096))[0].status)).toBe(0x080);
  });

  it("rejects bad namespaces, SGLs, fused commands and unknown opcodes", async () => {
    const { d } = await ready();
    expect(sc((await d.run(1, { opcode: O.IO_READ, nsid: 0, prp1: 0x10000 })).status)).toBe(0x00b);
    expect(sc((await d.run(1, { opcode: O.IO_READ, nsid: 33, prp1: 0x10000 })).status)).toBe(0x00b);
    // A valid NSID with no namespace attached is Invalid Field.
    expect(sc((await d.run(1, { opcode: O.IO_READ, nsid: 3, prp1: 0x10000 })).status)).toBe(0x002);
    expect(sc((await d.run(1, { opcode: O.IO_READ, nsid: 1, flags: 0x80, prp1: 0x10000 })).status)).toBe(0x002); // PSDT 10b: MPTR as an SGL is not offered
    expect(sc((await d.run(1, { opcode: O.IO_READ, nsid: 1, flags: 0x01, prp1: 0x10000 })).status)).toBe(0x002);
    expect(sc((await d.run(1, { opcode: 0x7f, nsid: 1 })).status)).toBe(0x001);
    expect(sc((await d.run(1, { opcode: 0x7e, nsid: 1 })).status)).toBe(0x001);
  });

  it("compares equal and unequal data", async () => {
    const { d } = await ready();
    const data = pattern(1024, 5);
    await d.write(1, 1, 100, data);
    const [p1, p2, addr] = d.buffer(1024);
    d.mem.fill(addr, data);
    expect((await d.run(1, { opcode: O.IO_COMPARE, nsid: 1, prp1: p1, prp2: p2, cdw10: 100, cdw12: 1 })).status).toBe(0);
    d.mem.fill(addr + 1000, new Uint8Array([data[1000] ^ 1]));
    const c = await d.run(1, { opcode: O.IO_COMPARE, nsid: 1, prp1: p1, prp2: p2, cdw10: 100, cdw12: 1 });
    expect(sc(c.status)).toBe(0x285); // Media: Compare Failure
  });

  it("writes zeroes and deallocates ranges through Dataset Management", async () => {
    const { d, disk } = await ready();
    await d.write(1, 1, 0, pattern(8192, 6));
    expect((await d.run(1, { opcode: O.IO_WRITE_ZEROES, nsid: 1, cdw10: 2, cdw12: 1 })).status).toBe(0);
    const [, a] = await d.read(1, 1, 0, 16);
    expect(a.subarray(1024, 2048).every((b) => b === 0)).toBe(true);
    expect(a.subarray(2048, 2560)).toEqual(pattern(8192, 6).subarray(2048, 2560));
    const ranges = d.mem.alloc(4096);
    d.mem.write32(ranges + 4, 2); // range 0: 2 blocks at LBA 6
    d.mem.write64(ranges + 8, 6);
    d.mem.write32(ranges + 16 + 4, 1); // range 1: 1 block at LBA 12
    d.mem.write64(ranges + 16 + 8, 12);
    expect((await d.run(1, { opcode: O.IO_DATASET_MANAGEMENT, nsid: 1, prp1: ranges, cdw10: 1, cdw11: 4 })).status).toBe(0);
    const b = new Uint8Array(16 * 512);
    disk.tryRead(0, b);
    expect(b.subarray(6 * 512, 8 * 512).every((x) => x === 0)).toBe(true);
    expect(b.subarray(12 * 512, 13 * 512).every((x) => x === 0)).toBe(true);
    expect(b.subarray(8 * 512, 9 * 512)).toEqual(pattern(8192, 6).subarray(8 * 512, 9 * 512));
    d.mem.write64(ranges + 8, (1 << 20) / 512); // past the end
    expect(sc((await d.run(1, { opcode: O.IO_DATASET_MANAGEMENT, nsid: 1, prp1: ranges, cdw10: 0, cdw11: 4 })).status)).toBe(0x080);
  });

  it("flushes one namespace or all of them", async () => {
    const { d } = await ready();
    expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
    expect(sc((await d.run(1, { opcode: O.IO_FLUSH, nsid: 9 })).status)).toBe(0x00b);
  });

  it("reports transfers to the host for bus events", async () => {
    const { d } = await ready();
    await d.write(1, 1, 0, pattern(4096, 1));
    await d.read(1, 1, 0, 8);
    expect(d.host.io).toEqual([["write", 4096], ["read", 4096]]);
    expect(d.ctrl.counters.bytesRead).toBe(4096);
    expect(d.ctrl.counters.bytesWritten).toBe(4096);
  });
});
