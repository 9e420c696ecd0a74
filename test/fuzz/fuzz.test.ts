// The CI-sized slice of the hostile-host fuzzer (the long runs: `npm run fuzz`). Fixed seeds, so
// a failure names the seed and input number that reproduce it.
import { describe, it, expect } from "vitest";
import { fuzzSeed } from "./run.ts";

describe("a hostile host", () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`breaks no invariant in 4,000 inputs (seed ${seed})`, async () => {
      const r = await fuzzSeed(seed, 4000);
      expect(r.violations).toEqual([]);
      expect(r.inputs).toBe(4000);
      // The run did reach the device: commands fetched and completed, not only rejected writes.
      expect(r.fetched).toBeGreaterThan(1000);
      expect(r.completed).toBeGreaterThan(1000);
    }, 60_000);
  }
});
