// Restoring a state into a running emulator (a test rewinding its guest), keeping what v86
// compiled for the guest's code.
//
// v86's restore zeroes all of guest RAM, writes the state's pages and then throws away every
// block of guest code its JIT compiled, so the restored guest runs interpreted until its code
// is hot again: measured in a page, a shell loop ran 4-5 s instead of 1.1 s right after a
// restore. Between a snapshot and its restore a test changes a few hundred pages of 32,768. Here
// the restore writes only the pages whose bytes differ and tells the JIT that those changed,
// the way it hears of any other write to guest RAM (the NVMe controller's DMA included), and
// keeps the compiled code of every other page. The code is keyed by physical page and CPU
// mode, so it is as valid after the restore as after any guest context switch.

import { standIn } from "./cpu-stand-in.ts";

type Emulator = { restore_state(state: ArrayBuffer): Promise<void> | void; v86?: { cpu?: unknown } };

/** What the rewind uses of v86's CPU (all of it, or the restore is v86's own). */
interface RewindCpu {
  wasm_memory: WebAssembly.Memory;
  /** Guest RAM's place in the wasm memory (a view made anew on each access: read once). */
  mem8: { byteOffset: number };
  memory_size: ArrayLike<number>;
  unpack_memory(bitmap: { get(page: number): boolean | number }, packed: Uint8Array): void;
  jit_clear_cache(): void;
  jit_dirty_cache(start: number, end: number): void;
  is_memory_zeroed(addr: number, length: number): boolean | number;
  zero_memory(addr: number, length: number): void;
}

const PAGE = 4096;
const WORDS = PAGE / 4;

function rewindCpu(emulator: Emulator): RewindCpu | undefined {
  const cpu = emulator.v86?.cpu as Partial<RewindCpu> | undefined;
  if (!cpu || !(cpu.wasm_memory instanceof WebAssembly.Memory) || typeof cpu.mem8?.byteOffset !== "number" || cpu.mem8.byteOffset % PAGE !== 0 || typeof cpu.memory_size?.[0] !== "number") return undefined;
  const needed = ["unpack_memory", "jit_clear_cache", "jit_dirty_cache", "is_memory_zeroed", "zero_memory"] as const;
  return needed.every((f) => typeof cpu[f] === "function") ? (cpu as RewindCpu) : undefined;
}

/**
 * Puts the state's RAM pages into guest RAM like v86's unpack_memory (pages the bitmap leaves out
 * are zero), writing only the pages that differ and dirtying v86's compiled code for them.
 * Returns how many pages changed.
 */
function unpackChanged(cpu: RewindCpu, bitmap: { get(page: number): boolean | number }, packed: Uint8Array): number {
  const pages = Math.floor(cpu.memory_size[0] / PAGE);
  const mem8 = new Uint8Array(cpu.wasm_memory.buffer, cpu.mem8.byteOffset, pages * PAGE);
  const mem = new Int32Array(mem8.buffer, mem8.byteOffset, pages * WORDS);
  const src8 = packed.byteOffset % 4 === 0 ? packed : packed.slice();
  const src = new Int32Array(src8.buffer, src8.byteOffset, src8.byteLength >> 2);
  let changed = 0;
  let dirtyFrom = -1;
  const flush = (upTo: number): void => {
    if (dirtyFrom >= 0) cpu.jit_dirty_cache(dirtyFrom * PAGE, upTo * PAGE);
    dirtyFrom = -1;
  };
  const mark = (page: number): void => {
    changed++;
    if (dirtyFrom < 0) dirtyFrom = page;
  };
  let packedPage = 0;
  for (let page = 0; page < pages; ) {
    if (bitmap.get(page)) {
      const at = page * WORDS;
      const from = packedPage * WORDS;
      let i = 0;
      while (i < WORDS && mem[at + i] === src[from + i]) i++;
      if (i < WORDS) {
        mem8.set(src8.subarray(packedPage * PAGE, packedPage * PAGE + PAGE), page * PAGE);
        mark(page);
      } else flush(page);
      packedPage++;
      page++;
      continue;
    }
    // A run of pages the state holds as zero: usually zero here too, checked at once.
    let end = page + 1;
    while (end < pages && !bitmap.get(end)) end++;
    if (cpu.is_memory_zeroed(page * PAGE, (end - page) * PAGE)) {
      flush(page);
    } else {
      for (let p = page; p < end; p++) {
        if (cpu.is_memory_zeroed(p * PAGE, PAGE)) {
          flush(p);
        } else {
          cpu.zero_memory(p * PAGE, PAGE);
          mark(p);
        }
      }
    }
    page = end;
  }
  flush(pages);
  return changed;
}

/**
 * restore_state() of v86's state bytes (which may be a view: v86 takes an ArrayBuffer of its
 * own), writing only the RAM pages that differ and keeping v86's compiled code for the others
 * (on a v86 without the functions this needs, its own restore).
 */
export async function restoreState(emulator: Emulator, state: ArrayBuffer | Uint8Array): Promise<void> {
  const bytes = state instanceof ArrayBuffer ? state : state.slice().buffer;
  const cpu = rewindCpu(emulator);
  if (!cpu) return void (await emulator.restore_state(bytes));
  let unpacked = false;
  await standIn<RewindCpu["unpack_memory"], void>(
    cpu,
    "unpack_memory",
    () => (bitmap, packed) => {
      unpackChanged(cpu, bitmap, packed);
      unpacked = true;
    },
    () =>
      // v86 clears its compiled code after the RAM is in: unneeded once the changed pages were dirtied.
      standIn<RewindCpu["jit_clear_cache"], void>(cpu, "jit_clear_cache", (own) => () => (unpacked ? undefined : own()), () => emulator.restore_state(bytes)),
  );
}
