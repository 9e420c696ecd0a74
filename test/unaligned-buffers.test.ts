// Data buffers that are only dword-aligned, as Linux's O_DIRECT allows (the NVMe queue's DMA
// alignment is 4 bytes): a 512-byte block then spans two pages, in segments of e.g. 160 and 352
// bytes. Backends that store whole blocks (the copy-on-write overlay, OPFS) must still get it whole.
import { describe, expect, it } from "vitest";
import { CowBackend } from "../src/backends/cow-disk.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";
import { HostDriver, pattern } from "./driver/host-driver.ts";

describe("I/O with a data buffer split inside a block", () => {
  for (const blocks of [1, 3]) {
    it(`writes ${blocks} block(s) from a buffer split 160 bytes into its first block to a copy-on-write disk, and reads them back`, async () => {
      const disk = new CowBackend(new MemoryBackend(1 << 20));
      const d = await HostDriver.create({ namespaces: [{ backend: disk }] }, 8 << 20);
      await d.bringUp({ pairs: 1 });
      const bytes = blocks * 512;
      const pages = d.mem.alloc(3 * 4096);
      // PRP1 160 bytes before the end of a page, PRP2 a page that does not follow it.
      const p1 = pages + 4096 - 160;
      const p2 = pages + 2 * 4096;
      const data = pattern(bytes, 7);
      const place = (src: Uint8Array): void => {
        d.mem.fill(p1, src.subarray(0, 160));
        d.mem.fill(p2, src.subarray(160));
      };
      const gather = (): Uint8Array => Uint8Array.from([...d.mem.bytes(p1, 160), ...d.mem.bytes(p2, bytes - 160)]);
      place(data);
      const w = await d.run(1, { opcode: O.IO_WRITE, nsid: 1, prp1: p1, prp2: p2, cdw10: 40, cdw12: blocks - 1 });
      expect(w.status).toBe(0);
      const back = new Uint8Array(bytes);
      expect(disk.tryRead(40 * 512, back)).toBe(true);
      expect(back).toEqual(data);
      place(new Uint8Array(bytes));
      const r = await d.run(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw10: 40, cdw12: blocks - 1 });
      expect(r.status).toBe(0);
      expect(gather()).toEqual(data);
    });
  }
});
