// Many commands on two queues under several seeded faults at once (media errors, delays, hangs):
// every command completes exactly once (hung ones when the host aborts them), each fault's hits
// match its trace entries, every write acknowledged as successful reads back, and a failed one
// left its blocks as they were.
import { describe, it, expect } from "vitest";
import { HostDriver, pattern, type Cqe } from "../driver/host-driver.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import * as O from "../../src/spec/opcodes.ts";
import { ST } from "./helpers.ts";

const ABORT_REQUESTED = 0x007;

interface Sent { qid: number; cid: number; write: boolean; slba: number; data?: Uint8Array }

describe("mixed injected faults", () => {
  it("every command completes once, hits match the trace, acknowledged writes read back", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(4 << 20) }], doorbellPolicy: "eager", traceLength: 4000 }, 16 << 20);
    await d.bringUp({ pairs: 2, queueSize: 64 });
    const faults = [
      d.ctrl.injectFault({ op: "read", probability: 0.2, seed: 7 }),
      d.ctrl.injectFault({ op: "write", probability: 0.15, seed: 8, status: "write-fault" }),
      d.ctrl.injectFault({ op: "any", probability: 0.2, seed: 9, delayMs: 3 }),
      d.ctrl.injectFault({ op: "any", probability: 0.05, seed: 10, hang: true, count: 6 }),
    ];
    const sent = new Map<string, Sent>();
    const done = new Map<string, Cqe>();
    const key = (qid: number, cid: number) => `${qid}:${cid}`;
    const reap = () => {
      for (const q of [1, 2]) {
        for (const c of d.reap(q)) {
          const k = key(q, c.cid);
          expect(done.has(k), `command ${k} completed twice`).toBe(false);
          done.set(k, c);
        }
      }
    };
    for (let batch = 0; batch < 20; batch++) {
      for (let i = 0; i < 16; i++) {
        const n = batch * 16 + i;
        const qid = 1 + (n % 2);
        const write = n % 3 !== 0;
        const slba = n * 8; // every command its own 4 KiB
        const [p1, p2, addr] = d.buffer(4096);
        const data = write ? pattern(4096, n + 1) : undefined;
        if (data) d.mem.fill(addr, data);
        const cid = d.submit(qid, { opcode: write ? O.IO_WRITE : O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw10: slba, cdw12: 7 });
        sent.set(key(qid, cid), { qid, cid, write, slba, data });
      }
      d.ctrl.tick();
      await new Promise((r) => setTimeout(r, 8));
      d.ctrl.tick();
      reap();
    }
    await new Promise((r) => setTimeout(r, 20));
    d.ctrl.tick();
    reap();
    // What is still outstanding hangs: the host aborts it.
    const hung = [...sent.values()].filter((s) => !done.has(key(s.qid, s.cid)));
    expect(hung.length).toBe(d.ctrl.faults()[3].fired);
    for (const s of hung) expect((await d.admin({ opcode: O.ADMIN_ABORT, cdw10: s.qid | (s.cid << 16) })).dw0 & 1).toBe(0);
    reap();
    expect(done.size).toBe(sent.size);
    expect(d.ctrl.counters.inflight).toBe(0);

    const allowed = new Set([0, ST.UNRECOVERED_READ, ST.WRITE_FAULT, ABORT_REQUESTED]);
    for (const c of done.values()) expect(allowed.has(c.status), `status 0x${c.status.toString(16)}`).toBe(true);
    const trace = d.ctrl.trace().filter((e) => e.sqid !== 0);
    expect(trace.length).toBe(sent.size);
    for (const f of d.ctrl.faults()) {
      expect(f.fired, `fault ${f.id}`).toBeGreaterThan(0);
      expect(trace.filter((e) => e.injected === f.id).length, `fault ${f.id}`).toBe(f.fired);
    }
    expect(faults.map((f) => f.id)).toEqual([1, 2, 3, 4]);

    d.ctrl.clearFaults();
    for (const s of sent.values()) {
      if (!s.write) continue;
      const [c, back] = await d.read(1, 1, s.slba, 8);
      expect(c.status).toBe(0);
      const ok = done.get(key(s.qid, s.cid))!.status === 0;
      expect(back, `write at ${s.slba} (${ok ? "acknowledged" : "failed"})`).toEqual(ok ? s.data : new Uint8Array(4096));
    }
  });
});
