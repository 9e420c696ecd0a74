// A seeded generator (mulberry32): small, fast, and the same sequence in Node and in a page, so a
// seed names a run. It imports nothing, so any room (and the crash workload's page) may use it.

/** The generator for `seed`: each call returns the next number of its sequence in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
