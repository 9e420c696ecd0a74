// The clock v86 keeps its timers on, made movable so that a resumed guest's timers run.
//
// v86 reads time from `performance.now` (bound once, when its module loads) and saves its
// timers — the PIT's, the APIC's, the RTC's next interrupt, the TSC's base — as readings of that
// clock. A state saved 60 s into one process and resumed 1 s into another has its timers 59 s in
// the future there: the guest's timer interrupts stop until the clock gets there (a shell that
// answers, but a `sleep 1` that takes a minute). So the clock v86 binds is performance.now plus
// an offset that only grows, and a resume moves it past the saver's reading (forward jumps are
// what any guest sees after a host suspend). Install it before v86's module loads: v86-nvme/node
// does so by loading v86 itself; a page imports this module before it imports v86.

const base = performance.now.bind(performance);
let offset = 0;
let installed = false;

/** Makes performance.now movable (idempotent). Must run before v86's module is evaluated. */
export function installV86Clock(): void {
  if (installed) return;
  installed = true;
  performance.now = () => base() + offset;
}

/** The clock's reading now (performance.now once installed). */
export function v86ClockMs(): number {
  return base() + offset;
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
