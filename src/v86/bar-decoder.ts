// Where BAR0 answers in v86's physical address space, following what the guest programs into it.
//
// v86 dispatches every access above guest RAM through four arrays on the CPU (memory_map_read8,
// memory_map_write8, memory_map_read32, memory_map_write32), one entry per 128 KiB block
// (addr >>> 17). io.mmap_register fills whole blocks and nothing empties them: at start every
// block above RAM holds v86's "unmapped" handlers (reads all ones, writes dropped). BAR0 is 16 KiB,
// and firmware packs BARs tightly (SeaBIOS puts it at 0xFEBF0000, inside the 1 MiB v86 maps for
// the VGA ROM), so each block the window touches gets a dispatcher: addresses inside a decoding
// window go to its function, the rest to whatever the block held before, which is put back once
// no window is left in the block.
//
// The function decodes only while the command register's Memory Space bit is set (read live at
// each access: config writes never reach the device), BAR1 (the upper half) is 0 and the window
// lies where MMIO can reach it and nothing of v86's own sits: above guest RAM (below it the wasm
// module answers from RAM and never calls out), outside the ranges in RESERVED, and apart from
// every other window of this adapter. Any other value is stored and reads back as written, as on
// hardware, but nothing decodes it.

import type { MmioHandlers } from "./mmio.ts";
import type { V86Cpu } from "./v86-types.ts";
import { MMAP_BLOCK_SIZE } from "./v86-types.ts";

/** Command register bit 1: the function answers memory accesses to its BARs. */
export const PCI_COMMAND_MEMORY = 1 << 1;

// Ranges v86 decodes itself above guest RAM: the VGA linear framebuffer (in the wasm module, up
// to 128 MiB here), the VGA expansion ROM (its ROM BAR, 64 KiB), IOAPIC, local APIC, BIOS ROM.
export const RESERVED: ReadonlyArray<readonly [number, number, string]> = [
  [0xe0000000, 0xe8000000, "the VGA linear framebuffer"],
  [0xfeb00000, 0xfeb10000, "the VGA ROM"],
  [0xfec00000, 0xfec01000, "the IOAPIC"],
  [0xfee00000, 0xfee01000, "the local APIC"],
  [0xfff00000, 0x100000000, "the BIOS ROM"],
];

type Read = (addr: number) => number;
type Write = (addr: number, value: number) => void;
interface BlockHandlers {
  read8: Read;
  write8: Write;
  read32: Read;
  write32: Write;
}

/** v86's dispatch arrays (not in V86Cpu: a CPU object without them is treated as all unmapped). */
interface MemoryMaps {
  memory_map_read8: Array<Read | undefined>;
  memory_map_write8: Array<Write | undefined>;
  memory_map_read32: Array<Read | undefined>;
  memory_map_write32: Array<Write | undefined>;
}

/** What v86 does for memory nobody claimed. */
const UNMAPPED: BlockHandlers = { read8: () => 0xff, write8: () => {}, read32: () => -1, write32: () => {} };

interface Claim {
  start: number;
  end: number;
  h: MmioHandlers;
  on(): boolean;
}

interface Block {
  prev: BlockHandlers;
  claims: Claim[];
  /** The dispatcher registered for the block. */
  own: BlockHandlers;
}

/** A guest writing one bad value after another is told about this many. */
const MAX_REFUSALS_LOGGED = 8;

/** The blocks the adapter's windows hold, by v86 io object. */
const blocksByIo = new WeakMap<object, Map<number, Block>>();

function held(cpu: V86Cpu, index: number): BlockHandlers {
  const m = cpu as unknown as Partial<MemoryMaps>;
  const read8 = m.memory_map_read8?.[index];
  const write8 = m.memory_map_write8?.[index];
  const read32 = m.memory_map_read32?.[index];
  const write32 = m.memory_map_write32?.[index];
  return read8 && write8 && read32 && write32 ? { read8, write8, read32, write32 } : UNMAPPED;
}

function dispatcher(b: Block): BlockHandlers {
  const find = (a: number): Claim | undefined => {
    for (const c of b.claims) if (a >= c.start && a < c.end && c.on()) return c;
    return undefined;
  };
  return {
    read8(addr) {
      const c = find(addr >>> 0);
      return c ? c.h.read8((addr >>> 0) - c.start) : b.prev.read8(addr);
    },
    write8(addr, value) {
      const c = find(addr >>> 0);
      if (c) c.h.write8((addr >>> 0) - c.start, value);
      else b.prev.write8(addr, value);
    },
    read32(addr) {
      const c = find(addr >>> 0);
      return c ? c.h.read32((addr >>> 0) - c.start) : b.prev.read32(addr);
    },
    write32(addr, value) {
      const c = find(addr >>> 0);
      if (c) c.h.write32((addr >>> 0) - c.start, value);
      else b.prev.write32(addr, value);
    },
  };
}

function blockRange(c: Claim): number[] {
  const out: number[] = [];
  for (let i = c.start >>> 17; i <= (c.end - 1) >>> 17; i++) out.push(i);
  return out;
}

/** BAR0 of one function: its window in v86's address space, moved to what BAR0/BAR1 hold. */
export class Bar0Decoder {
  private claim: Claim | undefined;
  private readonly blocks: Map<number, Block>;
  private lastRefusal = "";
  private refusals = 0;

  /**
   * `handlers` take offsets into the BAR (created with base 0); `space` is the function's live
   * config space; `log` hears moves (debug) and values nothing decodes (warn).
   */
  constructor(
    private readonly cpu: V86Cpu,
    readonly size: number,
    private readonly space: Int32Array,
    private readonly handlers: MmioHandlers,
    private readonly log: (level: "debug" | "warn", msg: string) => void,
  ) {
    let m = blocksByIo.get(cpu.io);
    if (!m) blocksByIo.set(cpu.io, (m = new Map()));
    this.blocks = m;
  }

  /** Where the window sits now (undefined: nothing decodes BAR0), memory space enabled or not. */
  get address(): number | undefined {
    return this.claim?.start;
  }

  /** Whether an access to `addr` reaches this function now. */
  decodes(addr: number): boolean {
    const c = this.claim;
    return c !== undefined && (addr >>> 0) >= c.start && (addr >>> 0) < c.end && c.on();
  }

  /** Why `base` (BAR1 = `upper`) cannot be decoded, or "" if it can. */
  refusal(base: number, upper: number): string {
    if (upper !== 0) return "above 4 GiB (v86's physical address space is 32-bit)";
    const end = base + this.size;
    const ram = this.cpu.memory_size[0];
    if (base < ram) return `inside guest RAM (${ram} bytes)`;
    for (const [lo, hi, what] of RESERVED) if (base < hi && end > lo) return `over ${what}`;
    for (const b of this.blocks.values()) {
      for (const c of b.claims) if (c !== this.claim && base < c.end && end > c.start) return "over another function's BAR";
    }
    return "";
  }

  /** Re-reads BAR0/BAR1 from config space and moves the window there (or drops it). */
  follow(): void {
    const base = (this.space[4] & ~(this.size - 1) & ~0xf) >>> 0;
    const upper = this.space[5] >>> 0;
    const why = this.refusal(base, upper);
    const target = why ? undefined : base;
    if (why) {
      // A size probe (all ones in either half) is never decoded and not worth a word.
      const probe = upper === 0xffffffff || base === ((~(this.size - 1) & ~0xf) >>> 0);
      const key = `${upper}:${base}`;
      if (!probe && key !== this.lastRefusal && this.refusals < MAX_REFUSALS_LOGGED) {
        this.lastRefusal = key;
        const more = ++this.refusals === MAX_REFUSALS_LOGGED ? " (further ones are not logged)" : "";
        this.log("warn", `BAR0 set to 0x${upper.toString(16)}_${base.toString(16).padStart(8, "0")}: ${why}; nothing decodes it${more}`);
      }
    }
    if (target === this.claim?.start) return;
    if (target !== undefined) this.log("debug", `BAR0 now at 0x${target.toString(16)}${this.claim ? ` (was 0x${this.claim.start.toString(16)})` : ""}`);
    this.release();
    if (target !== undefined) this.take(target);
  }

  /** Gives the window's blocks back to what held them before. */
  release(): void {
    const c = this.claim;
    if (!c) return;
    this.claim = undefined;
    for (const i of blockRange(c)) {
      const b = this.blocks.get(i);
      if (!b) continue;
      b.claims = b.claims.filter((x) => x !== c);
      if (b.claims.length === 0) {
        this.blocks.delete(i);
        this.cpu.io.mmap_register(i * MMAP_BLOCK_SIZE, MMAP_BLOCK_SIZE, b.prev.read8, b.prev.write8, b.prev.read32, b.prev.write32);
      }
    }
  }

  private take(start: number): void {
    const space = this.space;
    const c: Claim = { start, end: start + this.size, h: this.handlers, on: () => (space[1] & PCI_COMMAND_MEMORY) !== 0 };
    this.claim = c;
    for (const i of blockRange(c)) {
      let b = this.blocks.get(i);
      if (!b) {
        const block: Block = { prev: held(this.cpu, i), claims: [], own: UNMAPPED };
        block.own = dispatcher(block);
        this.blocks.set(i, (b = block));
        this.install(i, b);
      }
      b.claims.push(c);
    }
  }

  private install(i: number, b: Block): void {
    this.cpu.io.mmap_register(i * MMAP_BLOCK_SIZE, MMAP_BLOCK_SIZE, b.own.read8, b.own.write8, b.own.read32, b.own.write32);
  }

  /**
   * Takes back blocks v86 registered over (its load_bios maps the VGA ROM's 1 MiB and the BIOS
   * again at every reboot); what it put there becomes their fallback.
   */
  reclaim(): void {
    for (const [i, b] of this.blocks) {
      const now = held(this.cpu, i);
      if (now.read8 === b.own.read8) continue;
      b.prev = now;
      this.install(i, b);
    }
  }
}
