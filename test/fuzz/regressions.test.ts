// Device bugs the hostile-host fuzzer found, each kept as a named case.
import { describe, it, expect } from "vitest";
import { HostDriver } from "../driver/host-driver.ts";
import { DeferredBackend } from "../driver/deferred-backend.ts";
import { MemoryBackend } from "../../src/backends/memory.ts";
import * as O from "../../src/spec/opcodes.ts";
import * as S from "../../src/spec/status.ts";

async function slowDisk(): Promise<[HostDriver, DeferredBackend]> {
  const disk = new DeferredBackend(1 << 20);
  const d = await HostDriver.create({ namespaces: [{ backend: disk }] });
  await d.bringUp({ pairs: 1, shadow: true });
  d.shadowMode = "never";
  return [d, disk];
}

/** A 4 KiB read into a buffer filled with 0xEE; returns its cid and the buffer's address. */
function slowRead(d: HostDriver, cid?: number): [number, number] {
  const [p1, , addr] = d.buffer(4096);
  d.mem.fill(addr, new Uint8Array(4096).fill(0xee));
  return [d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, cdw12: 7, cid }), addr];
}

describe("fuzz regressions", () => {
  it("seed 1 input 400: a CQ head EventIdx written while raising the line is reported dirty in the same call", async () => {
    const d = await HostDriver.create({ namespaces: [{ backend: new MemoryBackend(1 << 20) }] });
    await d.bringUp({ pairs: 1, shadow: true });
    d.shadowMode = "never";
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    expect(d.reap(1)).toHaveLength(1);
    d.host.dirty = [];
    d.submit(1, { opcode: O.IO_FLUSH, nsid: 1 });
    const slot = d.eventIdx + 3 * 4; // doorbell index 3: CQ 1 head
    expect(d.mem.read32(slot)).toBe(1); // the host's head, written while the line went up
    expect(d.host.dirty.some(([s, e]) => s <= slot && e >= slot + 4)).toBe(true);
  });

  it("seed 1 input 800: a read whose data arrives after a controller reset stores nothing into guest RAM", async () => {
    const [d, disk] = await slowDisk();
    const [, addr] = slowRead(d);
    d.disable();
    await disk.release();
    expect(d.mem.bytes(addr, 4096).every((b) => b === 0xee)).toBe(true);
  });

  it("a read whose data arrives after it was aborted stores nothing into guest RAM", async () => {
    const [d, disk] = await slowDisk();
    const [cid, addr] = slowRead(d);
    const abort = await d.admin({ opcode: O.ADMIN_ABORT, cdw10: 1 | (cid << 16) });
    expect(abort.status).toBe(0);
    expect(d.reap(1).map((c) => [c.cid, c.status])).toEqual([[cid, S.SC_ABORT_REQUESTED]]);
    await disk.release();
    expect(d.mem.bytes(addr, 4096).every((b) => b === 0xee)).toBe(true);
    expect(d.reap(1)).toEqual([]);
  });

  it("seed 1 input 5200: a second command with the CID of one in flight gets Command ID Conflict, and the first still completes", async () => {
    const [d, disk] = await slowDisk();
    slowRead(d, 7);
    slowRead(d, 7);
    expect(d.reap(1).map((c) => [c.cid, c.status])).toEqual([[7, S.SC_CID_CONFLICT | S.STATUS_DNR]]);
    await disk.release();
    expect(d.reap(1).map((c) => [c.cid, c.status])).toEqual([[7, 0]]);
    // A parked Asynchronous Event Request holds its CID too.
    const aer = d.submit(0, { opcode: O.ADMIN_ASYNC_EVENT_REQUEST });
    const dup = await d.admin({ opcode: O.ADMIN_KEEP_ALIVE, cid: aer });
    expect(dup.status).toBe(S.SC_CID_CONFLICT | S.STATUS_DNR);
  });

  it("seed 5 input 94400: a slow read stores along its PRP list as it was when fetched, not as the host rewrote it", async () => {
    const [d, disk] = await slowDisk();
    disk.disk.write(0, new Uint8Array(16384).fill(0x5a));
    const [p1, p2, addr] = d.buffer(16384); // PRP1 + a list of three entries
    expect(p2).not.toBe(0);
    const decoy = d.mem.alloc(16384);
    d.mem.fill(addr, new Uint8Array(16384));
    d.submit(1, { opcode: O.IO_READ, nsid: 1, prp1: p1, prp2: p2, cdw12: 31 });
    for (let i = 0; i < 3; i++) d.mem.write64(p2 + i * 8, decoy + i * 4096); // a hostile host rewrites the list
    await disk.release();
    expect(d.reap(1).map((c) => c.status)).toEqual([0]);
    expect(d.mem.bytes(addr, 16384).every((b) => b === 0x5a)).toBe(true);
    expect(d.mem.bytes(decoy, 16384).every((b) => b === 0)).toBe(true);
  });
});

