// The only code that touches guest-physical addresses. Guest RAM is the window
// [ramBase, ramBase + ramSize) of the imported memory; every address is checked against it
// before use, in 64-bit arithmetic so that no sum wraps around.

import { ST_DIRTY, ST_DIRTY_COUNT, DIRTY_MAX } from "./layout";

export let ramBase: usize = 0;
export let ramSize: u64 = 0;
export let state: usize = 0;

export function setWindow(base: usize, size: u64, stateAddr: usize): void {
  ramBase = base;
  ramSize = size;
  state = stateAddr;
}

/** True when [addr, addr + len) lies inside guest RAM. */
@inline
export function inRam(addr: u64, len: u64): bool {
  return len <= ramSize && addr <= ramSize - len;
}

/** Host (wasm memory) address of a guest address already checked with inRam. */
@inline
export function host(addr: u64): usize {
  return ramBase + <usize>addr;
}

@inline export function st32(off: usize): u32 { return load<u32>(state + off); }
@inline export function st64(off: usize): u64 { return load<u64>(state + off); }
@inline export function setSt32(off: usize, v: u32): void { store<u32>(state + off, v); }
@inline export function setSt64(off: usize, v: u64): void { store<u64>(state + off, v); }

/** Records that the device stored into [addr, addr + len) so the emulator can drop stale JIT code. */
export function markDirty(addr: u64, len: u32): void {
  const start = <u32>addr;
  const end = start + len;
  const n = st32(ST_DIRTY_COUNT);
  if (n > 0) {
    const last = state + ST_DIRTY + (n - 1) * 8;
    const ls = load<u32>(last);
    const le = load<u32>(last, 4);
    if (start <= le && end >= ls) {
      // Overlapping or touching the newest range: grow it (CQEs and sequential data coalesce).
      if (start < ls) store<u32>(last, start);
      if (end > le) store<u32>(last, end, 4);
      return;
    }
    if (n == DIRTY_MAX) {
      // List full: widen the newest range to cover this one too. Over-invalidating is safe.
      if (start < ls) store<u32>(last, start);
      if (end > le) store<u32>(last, end, 4);
      return;
    }
  }
  const e = state + ST_DIRTY + n * 8;
  store<u32>(e, start);
  store<u32>(e, end, 4);
  setSt32(ST_DIRTY_COUNT, n + 1);
}

/** Stores a u32 at a guest address the caller has range-checked, and records it as dirty. */
export function guestStore32(addr: u64, v: u32): void {
  store<u32>(host(addr), v);
  markDirty(addr, 4);
}
