// BAR0 as v86 MMIO handlers over the controller's 32-bit register interface.
//
// v86 calls a region's handlers with the absolute address (a signed int above 2 GiB): 8-bit and
// 32-bit handlers only; a 16-bit access arrives as two 8-bit calls, a 64-bit one as two 32-bit
// calls (low dword first), a misaligned dword through the 32-bit handler as it is.
// Byte writes are merged into the dword: read-modify-write for plain registers, the byte alone
// for the write-1-to-set/clear registers (INTMS, INTMC, CSTS.NSSRO, NSSR), where writing back
// the other bytes would set or clear bits the guest never meant to touch. Doorbells are written
// as dwords by every real driver; a byte write there is merged the same way and logged once.

import { REG_CSTS, REG_INTMC, REG_INTMS, REG_NSSR } from "../spec/registers.ts";
import { DOORBELL_BASE } from "../spec/queue.ts";
import type { IntxLine } from "./intx.ts";

/** The controller's MMIO surface, as the adapter uses it. */
export interface MmioTarget {
  readonly bar0Size: number;
  mmioRead32(offset: number): number;
  mmioWrite32(offset: number, value: number): void;
}

const WRITE_ONE_REGS = new Set([REG_INTMS, REG_INTMC, REG_CSTS, REG_NSSR]);

export interface MmioHandlers {
  read8(addr: number): number;
  write8(addr: number, value: number): void;
  read32(addr: number): number;
  write32(addr: number, value: number): void;
}

export interface MmioCounters {
  mmioReads: number;
  mmioWrites: number;
  mmioByteAccesses: number;
  mmioErrors: number;
}

/**
 * Handlers for the window at `base` (0 when the caller passes offsets, as bar-decoder.ts does).
 * Accesses beyond the BAR (a misaligned dword across its end) read as all ones and are dropped,
 * like a master abort. A controller exception is logged and counted,
 * never thrown into the emulator's main loop.
 */
export function createMmioHandlers(
  base: number,
  target: MmioTarget,
  intx: IntxLine | undefined,
  log: (level: "warn" | "error", msg: string) => void,
  counters: MmioCounters,
): MmioHandlers {
  const size = target.bar0Size;
  let byteDoorbellWarned = false;

  function fail(what: string, off: number, e: unknown): void {
    counters.mmioErrors++;
    log("error", `MMIO ${what} at 0x${off.toString(16)} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }

  function readDword(off: number): number {
    if (intx) intx.inMmio = true;
    try {
      return target.mmioRead32(off) | 0;
    } catch (e) {
      fail("read", off, e);
      return -1;
    } finally {
      if (intx) intx.inMmio = false;
    }
  }

  function writeDword(off: number, value: number): void {
    if (intx) intx.inMmio = true;
    try {
      target.mmioWrite32(off, value | 0);
    } catch (e) {
      fail("write", off, e);
    } finally {
      if (intx) intx.inMmio = false;
    }
  }

  function read8(addr: number): number {
    const off = (addr >>> 0) - (base >>> 0);
    counters.mmioByteAccesses++;
    if (off < 0 || off >= size) return 0xff;
    return (readDword(off & ~3) >>> ((off & 3) * 8)) & 0xff;
  }

  function write8(addr: number, value: number): void {
    const off = (addr >>> 0) - (base >>> 0);
    counters.mmioByteAccesses++;
    if (off < 0 || off >= size) return;
    const reg = off & ~3;
    const shift = (off & 3) * 8;
    const byte = (value & 0xff) << shift;
    if (reg >= DOORBELL_BASE && !byteDoorbellWarned) {
      byteDoorbellWarned = true;
      log("warn", `byte write to doorbell 0x${reg.toString(16)}: merged into the dword read back`);
    }
    const merged = WRITE_ONE_REGS.has(reg) ? byte : (readDword(reg) & ~(0xff << shift)) | byte;
    counters.mmioWrites++;
    writeDword(reg, merged);
  }

  function read32(addr: number): number {
    const off = (addr >>> 0) - (base >>> 0);
    if (off & 3) return read8(addr) | (read8(addr + 1) << 8) | (read8(addr + 2) << 16) | (read8(addr + 3) << 24);
    if (off < 0 || off >= size) return -1;
    counters.mmioReads++;
    return readDword(off);
  }

  function write32(addr: number, value: number): void {
    const off = (addr >>> 0) - (base >>> 0);
    if (off & 3) {
      for (let i = 0; i < 4; i++) write8(addr + i, (value >>> (8 * i)) & 0xff);
      return;
    }
    if (off < 0 || off >= size) return;
    counters.mmioWrites++;
    writeDword(off, value);
  }

  return { read8, write8, read32, write32 };
}
