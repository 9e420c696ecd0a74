// Resuming a state into an emulator that has not run yet (autostart off, nothing loaded but the
// BIOSes), without the work v86 does for an arbitrary machine:
// - The reference a state file's shape is checked against (checkV86StateAgainst) is what this
//   emulator saves, minus guest RAM: v86 packs RAM by testing every 4 KiB page for zeros, and the
//   check needs none of it (RAM's packed pages may be of any size).
// - v86's restore zeroes all of guest RAM before writing the state's pages. In a fresh emulator
//   only the first MiB (where v86 put the BIOSes) was ever written; the rest is memory the system
//   has not handed out yet, and touching it costs a page fault per 4 KiB (most of a second for
//   128 MiB on a machine where faults are dear) to write zeros over zeros.
// Both work by standing in for one of v86's wasm functions for the duration of one call.

/** The part of guest RAM a fresh emulator has written: v86 loads the BIOS and VGA BIOS below 1 MiB. */
const WRITTEN_BELOW = 1 << 20;

interface FreshCpu {
  is_memory_zeroed?: (addr: number, length: number) => boolean;
  zero_memory?: (addr: number, length: number) => void;
}

type Emulator = { save_state(): Promise<ArrayBuffer>; restore_state(state: ArrayBuffer): Promise<void> | void; v86?: { cpu?: unknown } };

/** Runs `fn` with the CPU's own function `name` replaced (not at all when this v86 has none of its own). */
async function standIn<K extends keyof FreshCpu, T>(emulator: Emulator, name: K, make: (own: NonNullable<FreshCpu[K]>) => NonNullable<FreshCpu[K]>, fn: () => Promise<T>): Promise<T> {
  const cpu = emulator.v86?.cpu as FreshCpu | undefined;
  const own = cpu && Object.hasOwn(cpu, name) ? cpu[name] : undefined;
  if (!cpu || typeof own !== "function") return fn();
  cpu[name] = make(own as NonNullable<FreshCpu[K]>);
  try {
    return await fn();
  } finally {
    cpu[name] = own;
  }
}

/** save_state() of `emulator` without its RAM pages (a v86 that packs no pages saves as usual). */
export function referenceState(emulator: Emulator): Promise<ArrayBuffer> {
  return standIn(emulator, "is_memory_zeroed", () => () => true, () => emulator.save_state());
}

/**
 * restore_state() into an emulator that has not run and holds nothing above 1 MiB: v86's zeroing
 * of guest RAM is kept to the first MiB.
 */
export function restoreFresh(emulator: Emulator, state: ArrayBuffer): Promise<void> {
  return standIn(
    emulator,
    "zero_memory",
    (own) => (addr, length) => {
      if (addr < WRITTEN_BELOW) own(addr, Math.min(length, WRITTEN_BELOW - addr));
    },
    async () => emulator.restore_state(state),
  );
}
