// The register file and the enable / disable / shutdown / subsystem reset sequence.
import { describe, it, expect } from "vitest";
import { HostDriver } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as R from "../src/spec/registers.ts";
import * as O from "../src/spec/opcodes.ts";
import { hotPathOf } from "../src/controller/controller.ts";

const make = () => HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], maxQueueEntries: 1024 });

describe("controller registers", () => {
  it("advertises CAP and VS as a 1.4 controller with contiguous queues and DSTRD 0", async () => {
    const d = await make();
    const lo = d.reg(R.REG_CAP);
    const hi = d.reg(R.REG_CAP + 4);
    expect(lo & 0xffff).toBe(1023); // MQES
    expect(lo & R.CAP_CQR).toBeTruthy();
    expect((lo >>> 24) & 0xff).toBeGreaterThan(0); // TO
    expect(hi & 0xf).toBe(0); // DSTRD
    expect(hi & R.CAP_HI_CSS_NVM).toBeTruthy();
    expect(hi & R.CAP_HI_NSSRS).toBeTruthy();
    expect((hi >>> 16) & 0xf).toBe(0); // MPSMIN 4 KiB
    expect((hi >>> 20) & 0xf).toBe(4); // MPSMAX 64 KiB
    expect(d.reg(R.REG_VS)).toBe(0x00010400);
    d.setReg(R.REG_CAP, 0);
    d.setReg(R.REG_VS, 0);
    expect(d.reg(R.REG_CAP)).toBe(lo);
    expect(d.reg(R.REG_VS)).toBe(0x00010400);
  });

  it("keeps 64-bit admin queue addresses written as two halves", async () => {
    const d = await make();
    d.setReg(R.REG_ASQ, 0x12345000);
    d.setReg(R.REG_ASQ + 4, 0x1);
    d.setReg(R.REG_ACQ, 0x6789a123); // low 12 bits are reserved
    expect(d.reg(R.REG_ASQ)).toBe(0x12345000);
    expect(d.reg(R.REG_ASQ + 4)).toBe(1);
    expect(d.reg(R.REG_ACQ)).toBe(0x6789a000);
  });

  it("becomes ready on enable and forgets everything on disable", async () => {
    const d = await make();
    await d.bringUp();
    expect(d.reg(R.REG_CSTS) & R.CSTS_RDY).toBe(R.CSTS_RDY);
    d.disable();
    expect(d.reg(R.REG_CSTS) & R.CSTS_RDY).toBe(0);
    expect(hotPathOf(d.ctrl).sqExists(1)).toBe(false);
    expect(hotPathOf(d.ctrl).cqExists(0)).toBe(false);
    await d.bringUp();
    expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
  });

  it("reports a fatal status for an impossible enable", async () => {
    for (const setup of [
      (d: HostDriver) => d.setReg(R.REG_ASQ, d.mem.ramSize), // admin SQ outside guest RAM
      (d: HostDriver) => d.setReg(R.REG_ACQ + 4, 0x10), // admin CQ above 4 GiB
    ]) {
      const d = await make();
      d.setReg(R.REG_AQA, (31 << 16) | 31);
      d.setReg(R.REG_ASQ, 0x10000);
      d.setReg(R.REG_ACQ, 0x20000);
      setup(d);
      d.setReg(R.REG_CC, R.CC_EN | (6 << 16) | (4 << 20));
      const csts = d.reg(R.REG_CSTS);
      expect(csts & R.CSTS_RDY).toBe(0);
      expect(csts & R.CSTS_CFS).toBe(R.CSTS_CFS);
      // Disable clears it and a good configuration then works.
      d.setReg(R.REG_CC, 0);
      expect(d.reg(R.REG_CSTS) & R.CSTS_CFS).toBe(0);
    }
    const d = await make();
    d.setReg(R.REG_AQA, 31 | (31 << 16));
    d.setReg(R.REG_ASQ, 0x10000);
    d.setReg(R.REG_ACQ, 0x20000);
    d.setReg(R.REG_CC, R.CC_EN | (5 << R.CC_MPS_SHIFT)); // 128 KiB pages: beyond MPSMAX
    expect(d.reg(R.REG_CSTS) & R.CSTS_CFS).toBe(R.CSTS_CFS);
    expect(d.host.logs.some((l) => l.startsWith("error: nvme0:"))).toBe(true);
  });

  it("completes a normal shutdown and needs a reset afterwards", async () => {
    const d = await make();
    await d.bringUp();
    const cc = d.reg(R.REG_CC);
    d.setReg(R.REG_CC, cc | (R.SHN_NORMAL << R.CC_SHN_SHIFT));
    expect((d.reg(R.REG_CSTS) >>> 2) & 3).toBe(R.SHST_COMPLETE);
    d.disable();
    expect((d.reg(R.REG_CSTS) >>> 2) & 3).toBe(0);
  });

  it("after a shutdown touches neither queues nor shadow pages on its own: the host may have freed them", async () => {
    // Linux unbinding its driver: I/O queues deleted, shutdown, then the admin queues and the
    // shadow pages are freed and reused with the controller still enabled, until a next driver
    // resets it. The device once read an admin SQ tail out of a reused shadow page and posted
    // completions into a freed admin CQ that had become a page table.
    const d = await make();
    await d.bringUp({ pairs: 1 });
    await d.deleteSq(1);
    await d.deleteCq(1);
    d.setReg(R.REG_CC, d.reg(R.REG_CC) | (R.SHN_NORMAL << R.CC_SHN_SHIFT));
    expect((d.reg(R.REG_CSTS) >>> 2) & 3).toBe(R.SHST_COMPLETE);
    const asq = d.sqs.get(0)!, acq = d.cqs.get(0)!;
    const reused = [[d.shadow, 4096], [d.eventIdx, 4096], [asq.base, asq.size * 64], [acq.base, acq.size * 16]] as const;
    for (const [base, len] of reused) d.mem.fill(base, new Uint8Array(len).fill(0x07));
    // The admin queue's slots in the reused page: a tail and a head that would pass for real ones.
    d.mem.write32(d.shadow, (asq.tail + 3) % asq.size);
    d.mem.write32(d.shadow + 4, acq.head);
    const before = reused.map(([base, len]) => d.mem.bytes(base, len).slice());
    const dirty = d.host.dirty.length;
    for (let i = 0; i < 5; i++) d.ctrl.tick();
    d.ctrl.idle();
    reused.forEach(([base, len], i) => expect(d.mem.bytes(base, len), `region ${i}`).toEqual(before[i]));
    expect(d.host.dirty.length, "ranges written").toBe(dirty);
    // A reset and a new bring-up work as ever.
    d.disable();
    await d.bringUp();
    expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
  });

  it("performs an NVM subsystem reset on 'NVMe' written to NSSR", async () => {
    const d = await make();
    await d.bringUp();
    d.setReg(R.REG_NSSR, 0x1234);
    expect(d.reg(R.REG_CSTS) & R.CSTS_RDY).toBe(R.CSTS_RDY);
    d.setReg(R.REG_NSSR, R.NSSR_RESET_VALUE);
    expect(d.reg(R.REG_CSTS) & R.CSTS_RDY).toBe(0);
    expect(d.reg(R.REG_CSTS) & R.CSTS_NSSRO).toBe(R.CSTS_NSSRO);
    d.setReg(R.REG_CSTS, R.CSTS_NSSRO); // write 1 to clear
    expect(d.reg(R.REG_CSTS) & R.CSTS_NSSRO).toBe(0);
  });

  it("ignores doorbells while disabled and survives hostile register values", async () => {
    const d = await make();
    for (let off = 0; off < 0x2000; off += 4) d.setReg(off, 0xffffffff);
    for (let off = 0; off < 0x2000; off += 4) d.reg(off);
    d.setReg(R.REG_CC, 0);
    await d.bringUp();
    expect((await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 })).status).toBe(0);
    expect(d.brokenCanaries()).toEqual([]);
  });
});
