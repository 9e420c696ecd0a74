// The clock v86 keeps its timers on, made movable so that a resumed guest's timers run.
//
// v86 reads time from `performance.now` (bound once, when its module loads) and saves its
// timers — the PIT's, the APIC's, the RTC's next interrupt, the TSC's base — as readings of that
// clock. A state saved 60 s into one process and resumed 1 s into another has its timers 59 s in
// the future there: the guest's timer interrupts stop until the clock gets there (a shell that
// answers, but a `sleep 1` that takes a minute). So the clock v86 binds is performance.now plus
// an offset that only grows, and a resume moves it past the saver's reading (forward jumps are
// what any guest sees after a host suspend). The movable clock is put in place only while v86's
// module loads (it binds it then) and taken out again after, so that nobody else's
// performance.now jumps: v86-nvme/node loads v86 itself that way; a page imports a module that
// calls installV86Clock() before it imports v86, and releasePerformanceNow() after.

const base = performance.now.bind(performance);
const original = performance.now;
let offset = 0;
const movable = (): number => base() + offset;

/** Makes performance.now the movable clock, for v86's module to bind when it loads. */
export function installV86Clock(): void {
  performance.now = movable;
}

/** Gives performance.now back its own clock (v86, loaded meanwhile, keeps the movable one). */
export function releasePerformanceNow(): void {
  performance.now = original;
}

/** Loads v86's module (or anything that binds performance.now) with the movable clock in place. */
export async function withV86Clock<T>(load: () => Promise<T>): Promise<T> {
  installV86Clock();
  try {
    return await load();
  } finally {
    releasePerformanceNow();
  }
}

/** The movable clock's reading now. */
export function v86ClockMs(): number {
  return movable();
}

/** Moves the clock forward so that it reads at least `ms` (never backwards). */
export function advanceV86Clock(ms: number): void {
  if (Number.isFinite(ms)) offset = Math.max(offset, ms - base());
}

/**
 * How many ms this emulator's v86 clock is behind `ms`: 0 when it reads the movable clock (or is
 * past `ms` anyway); more when v86's module was loaded before installV86Clock() and kept the
 * clock it bound.
 */
export function v86ClockBehind(emulator: unknown, ms: number): number {
  const microtick = (emulator as { v86?: { constructor?: { microtick?: () => number } } }).v86?.constructor?.microtick;
  if (typeof microtick !== "function") return 0;
  return Math.max(0, ms - microtick());
}
