// Device counters for the page and the benchmarks (the hot path keeps its own: doorbells, polls,
// EventIdx writes, entries). Plain numbers, bumped without allocation.

import * as O from "../spec/opcodes.ts";

export class Telemetry {
  private c: Record<string, number> = Telemetry.zero();

  private static zero(): Record<string, number> {
    return {
      adminCommands: 0, readCommands: 0, writeCommands: 0, flushCommands: 0, otherIoCommands: 0,
      bytesRead: 0, bytesWritten: 0, interrupts: 0, ticks: 0, invalidDoorbellWrites: 0,
    };
  }

  command(admin: boolean, opcode: number): void {
    if (admin) this.c.adminCommands++;
    else if (opcode === O.IO_READ) this.c.readCommands++;
    else if (opcode === O.IO_WRITE) this.c.writeCommands++;
    else if (opcode === O.IO_FLUSH) this.c.flushCommands++;
    else this.c.otherIoCommands++;
  }

  io(kind: "read" | "write", bytes: number): void {
    if (kind === "read") this.c.bytesRead += bytes;
    else this.c.bytesWritten += bytes;
  }

  count(name: "interrupts" | "ticks" | "invalidDoorbellWrites"): void {
    this.c[name]++;
  }

  snapshot(): Record<string, number> {
    return { ...this.c };
  }

  restore(s: Record<string, number>): void {
    const z = Telemetry.zero();
    for (const k of Object.keys(z)) z[k] = Number(s?.[k]) || 0;
    this.c = z;
  }
}
