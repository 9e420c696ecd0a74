// Telemetry counters kept in the state region (u64 each) so snapshots and the TypeScript side
// read them without a call.
import { ST_COUNTERS } from "./layout";
import { state } from "./guest";

@inline
export function count(which: u32, n: u64 = 1): void {
  const p = state + ST_COUNTERS + (<usize>which << 3);
  store<u64>(p, load<u64>(p) + n);
}
