// Interrupt coalescing when the host idles: a halted guest is waiting for the interrupt that
// aggregation holds back, so the emulator calls idle() and the interrupt is signalled at once
// instead of when the aggregation time runs out (which would wait for a host timer).
import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";
import { HostDriver } from "./driver/host-driver.ts";

describe("coalescing and an idle host", () => {
  it("idle() signals an interrupt held back for aggregation time; nothing is due after it", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], doorbellPolicy: "eager" });
    await d.bringUp();
    await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x08, cdw11: (50 << 8) | 7 }); // THR 8 entries, TIME 5 ms
    const t0 = performance.now();
    d.ctrl.tick(t0);
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.host.level).toBe(false); // held: below the threshold, time not run out
    expect(d.ctrl.nextDueMs(t0)).toBeGreaterThan(4);
    d.ctrl.idle();
    expect(d.host.level).toBe(true);
    expect(d.ctrl.nextDueMs(t0)).toBe(Infinity);
    expect(d.reap(1)).toHaveLength(1);
    expect(d.host.level).toBe(false);
    // With nothing held, idle() changes nothing.
    d.ctrl.idle();
    expect(d.host.level).toBe(false);
  });

  it("holds nothing back on the admin queue, so idle() has nothing to release there", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], doorbellPolicy: "eager" });
    await d.bringUp();
    await d.admin({ opcode: O.ADMIN_SET_FEATURES, cdw10: 0x08, cdw11: (50 << 8) | 7 }); // THR 8 entries, TIME 5 ms
    const t0 = performance.now();
    d.ctrl.tick(t0);
    d.submit(0, { opcode: O.ADMIN_GET_FEATURES, cdw10: 0x08 });
    expect(d.host.level).toBe(true); // the admin CQ is never aggregated
    expect(d.ctrl.nextDueMs(t0)).toBe(Infinity);
    d.ctrl.idle();
    expect(d.host.level).toBe(true);
    expect(d.reap(0)).toHaveLength(1);
    expect(d.host.level).toBe(false);
  });

  it("idle() leaves a controller that was never enabled alone", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
    d.ctrl.idle(); // not enabled: no queues to look at
    expect(d.host.level).toBe(false);
    expect(d.ctrl.nextDueMs(performance.now())).toBe(Infinity);
  });
});
