// The hot path's exports: the only surface TypeScript calls (see src/hotpath.ts).
// Built with --importMemory and the stub runtime: no data section, no allocation, no imports but
// the memory; state lives in the region handed to `init`.

import { ST_END, ST_DIRTY_COUNT, ST_COUNTERS, CNT_COUNT, ST_PAGE_SIZE } from "./layout";
import { setWindow, setSt32, state, markDirty as mark } from "./guest";

export { dbValue, dbbufConfig } from "./doorbell";
export {
  sqCreate, cqCreate, sqDelete, cqDelete, sqExists, cqExists, sqFetch, fetchNext, sqCqid, cqPost, dbWrite,
} from "./queues";
export { prpMap } from "./prp";
export { sglMap } from "./sgl";
export { segmentCount } from "./segments";
export { irqLevel, nextDue } from "./irq";

/** Points the module at guest RAM and its state region, and clears the state. */
export function init(ramBase: usize, ramSize: u32, stateAddr: usize): void {
  setWindow(ramBase, <u64>ramSize, stateAddr);
  memory.fill(stateAddr, 0, ST_END);
  reset();
}

/** Controller reset: forgets queues, doorbells and shadow pages; the counters keep counting. */
export function reset(): void {
  const counters = state + ST_COUNTERS;
  const countersEnd = counters + CNT_COUNT * 8;
  memory.fill(state, 0, ST_COUNTERS);
  memory.fill(countersEnd, 0, state + ST_END - countersEnd);
  setSt32(ST_PAGE_SIZE, 4096);
}

/** Re-points the module after a restore (state region contents kept). */
export function attach(ramBase: usize, ramSize: u32, stateAddr: usize): void {
  setWindow(ramBase, <u64>ramSize, stateAddr);
}

/** Records a guest range the TypeScript side stored into (data of Read commands). */
export function markDirty(addr: u32, len: u32): void { mark(<u64>addr, len); }

/** Empties the dirty list after the caller has handed it to the emulator. */
export function clearDirty(): void { setSt32(ST_DIRTY_COUNT, 0); }
