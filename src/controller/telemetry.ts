// Device counters for the page and the benchmarks (the hot path keeps its own: doorbells, polls,
// EventIdx writes, entries). Plain fields, bumped without allocation or dictionary lookups.

import * as O from "../spec/opcodes.ts";

export class Telemetry {
  adminCommands = 0;
  readCommands = 0;
  writeCommands = 0;
  flushCommands = 0;
  otherIoCommands = 0;
  bytesRead = 0;
  bytesWritten = 0;
  interrupts = 0;
  ticks = 0;
  invalidDoorbellWrites = 0;

  command(admin: boolean, opcode: number): void {
    if (admin) this.adminCommands++;
    else if (opcode === O.IO_READ) this.readCommands++;
    else if (opcode === O.IO_WRITE) this.writeCommands++;
    else if (opcode === O.IO_FLUSH) this.flushCommands++;
    else this.otherIoCommands++;
  }

  io(kind: "read" | "write", bytes: number): void {
    if (kind === "read") this.bytesRead += bytes;
    else this.bytesWritten += bytes;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(Object.entries(this)) as Record<string, number>;
  }

  restore(s: Record<string, number> | undefined): void {
    for (const k of Object.keys(this) as (keyof Telemetry & string)[]) {
      const v = Number(s?.[k]);
      (this as Record<string, unknown>)[k] = Number.isFinite(v) ? v : 0;
    }
  }
}
