// INTx: asserted while an interrupt-enabled CQ holds unconsumed entries; drops when the host's CQ
// head (MMIO or shadow + EventIdx) catches up; INTMS masks; coalescing delays.
import { describe, it, expect } from "vitest";
import { HostDriver } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as R from "../src/spec/registers.ts";
import * as O from "../src/spec/opcodes.ts";

// Eager polling: every submission is served while the doorbell write runs.
const make = () => HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], doorbellPolicy: "eager" });

describe("interrupts", () => {
  for (const shadow of [false, true]) {
    it(`line follows unconsumed completions (shadow doorbells ${shadow ? "on" : "off"})`, async () => {
      const d = await make();
      await d.bringUp({ shadow });
      d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
      expect(d.host.level).toBe(true);
      d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
      expect(d.host.level).toBe(true);
      expect(d.reap(1)).toHaveLength(2); // head update: through MMIO, or shadow + EventIdx -> MMIO
      expect(d.host.level).toBe(false);
    });
  }

  it("keeps the line up while only some entries are consumed", async () => {
    const d = await make();
    await d.bringUp({ shadow: true });
    for (let i = 0; i < 3; i++) d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.reap(1, 2)).toHaveLength(2);
    expect(d.host.level).toBe(true);
    expect(d.reap(1)).toHaveLength(1);
    expect(d.host.level).toBe(false);
  });

  it("drops the line on a shadow-only head update at the next poll", async () => {
    const d = await make();
    await d.bringUp({ shadow: true });
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(true);
    const cq = d.cqs.get(1)!;
    cq.head = 1;
    d.mem.write32(d.shadow + 3 * 4, 1); // shadow only
    expect(d.host.level).toBe(true);
    d.ctrl.tick();
    expect(d.host.level).toBe(false);
  });

  it("masks with INTMS and unmasks with INTMC", async () => {
    const d = await make();
    await d.bringUp();
    d.setReg(R.REG_INTMS, 1);
    expect(d.reg(R.REG_INTMS)).toBe(1);
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(false);
    d.setReg(R.REG_INTMC, 1);
    expect(d.reg(R.REG_INTMC)).toBe(0);
    expect(d.host.level).toBe(true);
  });

  it("never interrupts for a CQ created with interrupts disabled", async () => {
    const d = await make();
    d.enable();
    await d.setNumQueues(1);
    await d.createCq(1, 16, false);
    await d.createSq(1, 16, 1);
    d.reap(0);
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(false);
    expect(d.reap(1)).toHaveLength(1);
  });

  it("aggregates I/O completions up to the coalescing threshold", async () => {
    const d = await make();
    await d.bringUp();
    // Threshold 3 (0's based: 4 entries), time 255 x 100 us.
    expect((await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x08, cdw11: (255 << 8) | 3 })).status).toBe(0);
    for (let i = 0; i < 3; i++) {
      d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
      expect(d.host.level).toBe(false);
    }
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(true);
    expect(d.reap(1)).toHaveLength(4);
    expect(d.host.level).toBe(false);
  });

  it("takes coalescing set from outside the guest (the page's switch)", async () => {
    const d = await make();
    await d.bringUp();
    d.ctrl.setInterruptCoalescing(1, 255);
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(false);
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(true);
    const f = await d.admin({ opcode: O.ADMIN_GET_FEATURES, cdw10: 0x08 });
    expect(f.dw0).toBe((255 << 8) | 1);
  });

  it("signals after the aggregation time even below the threshold", async () => {
    const d = await make();
    await d.bringUp();
    await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x08, cdw11: (1 << 8) | 50 }); // 100 us
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(false);
    await new Promise((r) => setTimeout(r, 2));
    d.ctrl.tick();
    expect(d.host.level).toBe(true);
  });

  it("tells the emulator when it next needs a tick: when an aggregated interrupt falls due", async () => {
    const d = await make();
    await d.bringUp();
    d.ctrl.tick();
    expect(d.ctrl.nextDueMs(performance.now())).toBe(Infinity); // nothing owed, every queue armed
    await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x08, cdw11: (50 << 8) | 200 }); // 5 ms
    const t0 = performance.now();
    d.ctrl.tick(t0); // the device's clock is the emulator's, read per tick
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(false);
    const due = d.ctrl.nextDueMs(t0 + 1);
    expect(due).toBeGreaterThan(3.8);
    expect(due).toBeLessThanOrEqual(4);
    expect(d.ctrl.nextDueMs(t0 + 5)).toBe(0);
    d.ctrl.tick(t0 + 4.5);
    expect(d.host.level).toBe(false);
    d.ctrl.tick(t0 + 5.1);
    expect(d.host.level).toBe(true);
  });
});

