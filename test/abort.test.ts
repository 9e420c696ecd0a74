// Abort (admin 08h): in-flight commands and parked AERs complete as aborted exactly once.
import { describe, it, expect } from "vitest";
import { HostDriver } from "./driver/host-driver.ts";
import { DeferredBackend } from "./driver/deferred-backend.ts";
import * as O from "../src/spec/opcodes.ts";

describe("Abort", () => {
  it("aborts an in-flight read and a parked AER; reports commands it cannot find", async () => {
    const disk = new DeferredBackend(1 << 20);
    const d = await HostDriver.create({ namespaces: [{ backend: disk }], doorbellPolicy: "eager" });
    await d.bringUp();
    const [p1] = d.buffer(4096);
    const read = d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, cdw12: 7 });
    expect(disk.pending).toBe(1);
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const a1 = d.submit(0, { opcode: O.ADMIN_ABORT, cdw10: 1 | (read << 16) });
    const a2 = d.submit(0, { opcode: O.ADMIN_ABORT, cdw10: 0 | (aer << 16) });
    const a3 = d.submit(0, { opcode: O.ADMIN_ABORT, cdw10: 1 | (999 << 16) });
    const admin = d.reap(0);
    const by = (cid: number) => admin.find((c) => c.cid === cid)!;
    expect(by(a1).dw0 & 1).toBe(0);
    expect(by(a2).dw0 & 1).toBe(0);
    expect(by(a3).dw0 & 1).toBe(1); // not found: not aborted
    expect(by(aer).status & 0xff).toBe(0x07); // Command Abort Requested
    const io = d.reap(1);
    expect(io.map((c) => [c.cid, c.status & 0xff])).toEqual([[read, 0x07]]);
    await disk.release(); // the backend finishes later: no second completion
    expect(d.reap(1)).toEqual([]);
  });
});
