// The seed's rules: the shadow page is the single source of truth for doorbell values; EventIdx
// is written only when a poll finds a queue empty; hosts may use shadow doorbells always, never,
// for some queues or alternately.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type ShadowMode } from "./driver/host-driver.ts";
import { MemoryBackend } from "../src/backends/memory.ts";
import * as O from "../src/spec/opcodes.ts";

async function device(policy: "eager" | "awake" = "awake", batch = 0) {
  return HostDriver.create({ name: "nvme7", namespaces: [{ backend: new MemoryBackend(1 << 20) }], doorbellPolicy: policy, doorbellBatch: batch });
}

describe("shadow doorbells", () => {
  it("stores an MMIO doorbell write into the shadow slot too", async () => {
    const d = await device();
    await d.bringUp({ shadow: true });
    d.shadowMode = "never";
    d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.setReg(0x1000 + 2 * 4, 1); // SQ 1 tail through MMIO only
    expect(d.mem.read32(d.shadow + 2 * 4)).toBe(1);
    // The admin queue (rung through MMIO only, as Linux does) is mirrored as well.
    expect(d.mem.read32(d.shadow + 0)).toBe(d.sqs.get(0)!.tail);
    expect(d.reap(1)).toHaveLength(1);
    expect(d.mem.read32(d.shadow + 3 * 4)).toBe(1); // CQ 1 head, also rung through MMIO
  });

  it("reads doorbell values from the shadow page: a shadow-only update is seen at the next poll", async () => {
    const d = await device();
    await d.bringUp({ shadow: true });
    // The first submission rings MMIO (EventIdx starts at 0); leave the queue awake.
    await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 });
    const before = d.mmioWrites;
    d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.mem.write32(d.shadow + 2 * 4, d.sqs.get(1)!.tail); // shadow only, no MMIO
    expect(d.reap(1)).toHaveLength(0);
    d.ctrl.tick();
    expect(d.reap(1)).toHaveLength(1);
    expect(d.mmioWrites - before).toBeLessThanOrEqual(1); // at most the CQ head
  });

  it("writes EventIdx only when a poll finds the queue empty", async () => {
    const d = await device("awake");
    await d.bringUp({ shadow: true });
    const ei = () => d.mem.read32(d.eventIdx + 2 * 4);
    const writes = () => d.ctrl.counters.eventIdxWrites;
    d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.ring(1);
    const w0 = writes();
    // Processing the rung entry does not arm the queue (it stays awake).
    expect(ei()).toBe(0);
    // Shadow-only submissions while awake: the timer poll finds them; EventIdx is written only once
    // the poll sees the queue empty, with the tail it found.
    d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.mem.write32(d.shadow + 2 * 4, d.sqs.get(1)!.tail);
    d.ctrl.tick();
    expect(d.reap(1)).toHaveLength(3);
    expect(ei()).toBe(3);
    const w1 = writes();
    expect(w1).toBeGreaterThan(w0);
    // Non-empty queue seen by a poll: served, and EventIdx moves only when it is empty again.
    d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.mem.write32(d.shadow + 2 * 4, d.sqs.get(1)!.tail);
    expect(ei()).toBe(3);
    d.ctrl.tick();
    expect(ei()).toBe(4);
    expect(d.reap(1)).toHaveLength(1);
  });

  it("keeps a queue that a poll found several entries in awake until a tick finds it quiet", async () => {
    const d = await device("awake", 2);
    await d.bringUp({ shadow: true });
    const ei = () => d.mem.read32(d.eventIdx + 2 * 4);
    // Queue depth 1: each poll finds one entry, so an empty poll arms the queue at once.
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.ctrl.tick();
    expect(ei()).toBe(1);
    // A batch of three through the shadow page only: the next tick serves them and stays awake.
    const before = d.mmioWrites;
    for (let i = 0; i < 3; i++) d.place(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.mem.write32(d.shadow + 2 * 4, d.sqs.get(1)!.tail);
    d.ctrl.tick();
    expect(d.reap(1)).toHaveLength(4);
    expect(ei()).toBe(1);
    d.ctrl.tick(); // still within the busy tick's window
    expect(ei()).toBe(1);
    d.ctrl.tick(); // a tick with nothing found since: armed with the tail
    expect(ei()).toBe(4);
    expect(d.mmioWrites - before).toBeLessThanOrEqual(1);
  });

  it("with the eager policy a rung queue is polled to empty and armed at once", async () => {
    const d = await device("eager");
    await d.bringUp({ shadow: true });
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.mem.read32(d.eventIdx + 2 * 4)).toBe(1);
    expect(d.reap(1)).toHaveLength(1);
  });

  it("keeps a busy queue awake for doorbellIdleUs before arming it", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], doorbellIdleUs: 50_000 });
    await d.bringUp({ shadow: true });
    const ei = () => d.mem.read32(d.eventIdx + 2 * 4);
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 }); // rings MMIO (EventIdx 0)
    const mmio = d.mmioWrites;
    for (let i = 0; i < 5; i++) {
      d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 }); // shadow only: the queue is awake
      d.ctrl.tick();
      expect(d.reap(1).length).toBeGreaterThan(0);
    }
    expect(ei()).toBe(0); // never armed while busy
    expect(d.mmioWrites - mmio).toBe(5); // only CQ head updates (the interrupt's EventIdx)
    await new Promise((r) => setTimeout(r, 60));
    d.ctrl.tick();
    expect(ei()).toBe(6); // idle long enough: armed with the tail it found
    // The policy can change at run time.
    d.ctrl.setDoorbellPolicy("eager");
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(ei()).toBe(7);
  });

  for (const mode of ["always", "never", "some", "alternate"] as ShadowMode[]) {
    it(`moves data correctly when the host uses shadow doorbells ${mode}`, async () => {
      const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
      await d.bringUp({ shadow: true, pairs: 2 });
      d.shadowMode = mode;
      d.shadowQueues = new Set([2]);
      for (let i = 0; i < 40; i++) {
        const q = 1 + (i % 2);
        const data = pattern(4096, i);
        const w = await d.write(q, 1, i * 8, data);
        expect(w.status).toBe(0);
        const [r, back] = await d.read(q === 1 ? 2 : 1, 1, i * 8, 8);
        expect(r.status).toBe(0);
        expect(back).toEqual(data);
      }
      expect(d.brokenCanaries()).toEqual([]);
    });
  }

  it("rejects a Doorbell Buffer Config with unaligned or out-of-RAM pages", async () => {
    const d = await device();
    await d.bringUp({ shadow: false });
    const bad = [
      [0x10010, 0x20000],
      [0x10000, d.mem.ramSize],
      [0xfffff000 * 2 ** 1, 0x20000],
    ];
    for (const [s, e] of bad) {
      const c = await d.admin({ opcode: O.ADMIN_DOORBELL_BUFFER_CONFIG, prp1: s, prp2: e });
      expect(c.status & 0xff).toBe(0x02);
    }
    expect(d.host.logs.some((l) => l.includes("nvme7:"))).toBe(true);
    expect(d.brokenCanaries()).toEqual([]);
  });

  it("is not offered (Invalid Opcode) when shadow doorbells are off", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }], shadowDoorbells: false });
    await d.bringUp({ shadow: false });
    const c = await d.admin({ opcode: O.ADMIN_DOORBELL_BUFFER_CONFIG, prp1: 0x10000, prp2: 0x20000 });
    expect(c.status & 0x7ff).toBe(0x01);
  });

  it("forgets the shadow page on reset: the old page is never written again", async () => {
    const d = await device();
    await d.bringUp({ shadow: true });
    const oldShadow = d.shadow;
    const oldEi = d.eventIdx;
    d.disable();
    d.mem.fill(oldShadow, new Uint8Array(4096).fill(0x77));
    d.mem.fill(oldEi, new Uint8Array(4096).fill(0x77));
    await d.bringUp({ shadow: false });
    for (let i = 0; i < 10; i++) await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 });
    d.ctrl.tick();
    expect(d.mem.bytes(oldShadow, 4096).every((b) => b === 0x77)).toBe(true);
    expect(d.mem.bytes(oldEi, 4096).every((b) => b === 0x77)).toBe(true);
  });

  it("reports a doorbell write to a queue that does not exist, naming the device", async () => {
    const d = await device();
    await d.bringUp({ shadow: true });
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    for (let i = 0; i < 100; i++) d.setReg(0x1000 + 9 * 8, 1); // SQ 9 does not exist
    d.setReg(0x1000 + 200 * 8, 1); // beyond every queue id
    const done = d.reap(0);
    const ev = done.find((c) => c.cid === aer)!;
    expect(ev.status).toBe(0);
    expect(ev.dw0 & 0x7).toBe(0); // Error status event
    expect((ev.dw0 >>> 8) & 0xff).toBe(0); // write to invalid doorbell register
    expect((ev.dw0 >>> 16) & 0xff).toBe(0x01); // error information log
    const lines = d.host.logs.filter((l) => l.includes("invalid doorbell"));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(20); // rate-limited
    expect(lines.every((l) => l.includes("nvme7:"))).toBe(true);
  });

  it("reports a doorbell value beyond the queue size and keeps working", async () => {
    const d = await device();
    await d.bringUp({ shadow: true, queueSize: 16 });
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    d.setReg(0x1000 + 2 * 4, 16);
    const ev = d.reap(0).find((c) => c.cid === aer)!;
    expect((ev.dw0 >>> 8) & 0xff).toBe(1); // invalid doorbell write value
    // A garbage value written straight into the shadow slot is not taken either.
    d.mem.write32(d.shadow + 2 * 4, 0xdead);
    d.ctrl.tick();
    expect(d.reap(1)).toHaveLength(0);
    d.mem.write32(d.shadow + 2 * 4, 0);
    const c = await d.run(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(c.status).toBe(0);
  });
});
