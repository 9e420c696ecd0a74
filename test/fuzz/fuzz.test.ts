// The CI-sized slice of the hostile-host fuzzer (the long runs: `npm run fuzz`). Fixed seeds, so
// a failure names the seed and input number that reproduce it.
import { describe, it, expect } from "vitest";
import { fuzzSeed } from "./run.ts";
import { fuzzSnapshots } from "./snapshot-fuzz.ts";
import { fuzzAdapter } from "./adapter-fuzz.ts";
import { fuzzPair } from "./pair-moves.ts";

describe("a hostile host", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`breaks no invariant in 10,000 inputs (seed ${seed})`, async () => {
      const r = await fuzzSeed(seed, 10_000);
      expect(r.violations).toEqual([]);
      expect(r.inputs).toBe(10_000);
      // It provoked many different answers, successes among them.
      expect(Object.keys(r.statuses).length).toBeGreaterThan(12);
      expect(r.statuses["0"]).toBeGreaterThan(2000);
      // The run did reach the device: commands fetched and completed, not only rejected writes.
      expect(r.fetched).toBeGreaterThan(3000);
      expect(r.completed).toBeGreaterThan(3000);
    }, 60_000);
  }
});

describe("a hostile host with two controllers sharing namespaces", () => {
  it("breaks no invariant on either in 2,000 inputs (seed 1)", async () => {
    const r = await fuzzPair(1, 2_000, 250);
    expect(r.violations).toEqual([]);
    expect(r.inputs).toBe(2_000);
    // Both controllers ran commands; the pair moves ran, data-survives-reset checks among them.
    expect(Math.min(...r.fetched)).toBeGreaterThan(500);
    expect(r.pairMoves).toBeGreaterThan(200);
    expect(r.survivalChecks).toBeGreaterThan(5);
  }, 60_000);
});

describe("a hostile snapshot", () => {
  for (const seed of [1, 2]) {
    it(`is restored or refused cleanly, 3,000 mutated snapshots (seed ${seed})`, async () => {
      const r = await fuzzSnapshots(seed, 3_000);
      expect(r.violations).toEqual([]);
      expect(r.inputs).toBe(3_000);
      // Both outcomes are exercised: mutations the checks refuse, and ones that restore and run.
      expect(r.refused).toBeGreaterThan(500);
      expect(r.restored).toBeGreaterThan(500);
    }, 60_000);
  }
});

describe("a hostile guest at the v86 adapter", () => {
  for (const seed of [1, 2]) {
    it(`breaks no invariant in 3,000 MMIO, config space and timer inputs (seed ${seed})`, async () => {
      const r = await fuzzAdapter(seed, 3_000);
      expect(r.violations).toEqual([]);
      expect(r.inputs).toBe(3_000);
      expect(r.mmio).toBeGreaterThan(500);
      expect(r.busMasterOff).toBeGreaterThan(5);
    }, 60_000);
  }
});
